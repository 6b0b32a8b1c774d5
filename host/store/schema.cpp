#include "store/schema.hpp"

#include "store/metric_columns.hpp"

#include <SQLiteCpp/Database.h>
#include <SQLiteCpp/Statement.h>

namespace distill::store {

// Timestamps are ISO 8601 UTC text (see now_iso8601). Every table holding
// REAL metrics has a `nonfinite` column: NULL when all values are finite,
// else "field=nan,field=inf,..." naming each non-finite field. NaN columns are
// NULL (SQLite cannot store NaN); +-inf are stored as REAL +-inf as well.
// The metrics tables' columns are declared in store/metric_columns.hpp: a
// column added after version 1 is added by its `since` version's migration.
const std::array<Migration, 3> kMigrations = {{{R"sql(
CREATE TABLE experiments (
  id         INTEGER PRIMARY KEY,
  name       TEXT NOT NULL,
  toml       TEXT NOT NULL,
  hash       TEXT NOT NULL UNIQUE,
  created_at TEXT NOT NULL
);

CREATE TABLE sweeps (
  id            INTEGER PRIMARY KEY,
  experiment_id INTEGER NOT NULL REFERENCES experiments(id),
  name          TEXT NOT NULL,
  grid          TEXT NOT NULL,
  created_at    TEXT NOT NULL
);

CREATE TABLE runs (
  id            INTEGER PRIMARY KEY,
  experiment_id INTEGER NOT NULL REFERENCES experiments(id),
  sweep_id      INTEGER REFERENCES sweeps(id),
  trial_index   INTEGER,
  status        TEXT NOT NULL CHECK (status IN ('running','completed','failed','diverged','interrupted')),
  seed          INTEGER NOT NULL,
  device        TEXT NOT NULL,
  started_at    TEXT NOT NULL,
  ended_at      TEXT,
  error         TEXT,
  host_version  TEXT NOT NULL,
  pid           INTEGER NOT NULL,
  hostname      TEXT NOT NULL,
  heartbeat_at  TEXT NOT NULL
);
CREATE INDEX runs_by_experiment ON runs(experiment_id);
CREATE INDEX runs_by_sweep ON runs(sweep_id, trial_index);
CREATE INDEX runs_by_status ON runs(status);

CREATE TABLE run_params (
  run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
  key    TEXT NOT NULL,
  value  TEXT NOT NULL,
  PRIMARY KEY (run_id, key)
);
CREATE INDEX run_params_by_key ON run_params(key, value);

CREATE TABLE run_plugins (
  run_id         INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
  role           TEXT NOT NULL,
  plugin_id      TEXT NOT NULL,
  version        TEXT NOT NULL,
  library_path   TEXT NOT NULL,
  library_sha256 TEXT NOT NULL,
  weight         REAL
);
CREATE INDEX run_plugins_by_run ON run_plugins(run_id);

CREATE TABLE step_metrics (
  run_id         INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
  epoch          INTEGER NOT NULL,
  step           INTEGER NOT NULL,
  total_steps    INTEGER NOT NULL,
  train_loss     REAL,
  recon_loss     REAL,
  kl_loss        REAL,
  kl_weight      REAL,
  learning_rate  REAL,
  step_time_s    REAL,
  stft_loss      REAL,
  mag_recon_loss REAL,
  if_recon_loss  REAL,
  nonfinite      TEXT
);
CREATE UNIQUE INDEX step_metrics_by_run_epoch ON step_metrics(run_id, epoch, step);

CREATE TABLE epoch_metrics (
  run_id             INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
  epoch              INTEGER NOT NULL,
  total_epochs       INTEGER NOT NULL,
  train_loss         REAL,
  val_loss           REAL,
  val_recon_loss     REAL,
  val_kl_loss        REAL,
  kl_divergence      REAL,
  overfitting_gap    REAL,
  learning_rate      REAL,
  eta_seconds        REAL,
  elapsed_seconds    REAL,
  val_stft_loss      REAL,
  val_mag_recon_loss REAL,
  val_if_recon_loss  REAL,
  nonfinite          TEXT
);
CREATE UNIQUE INDEX epoch_metrics_by_run_epoch ON epoch_metrics(run_id, epoch);

CREATE TABLE loss_terms (
  run_id    INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
  epoch     INTEGER NOT NULL,
  step      INTEGER,
  split     TEXT NOT NULL CHECK (split IN ('train','val')),
  term      TEXT NOT NULL,
  raw       REAL,
  weighted  REAL,
  nonfinite TEXT
);
CREATE INDEX loss_terms_by_run_epoch ON loss_terms(run_id, epoch, step);

CREATE TABLE events (
  run_id  INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
  epoch   INTEGER,
  step    INTEGER,
  kind    TEXT NOT NULL,
  message TEXT NOT NULL,
  data    TEXT,
  at      TEXT NOT NULL
);
CREATE INDEX events_by_run ON events(run_id, kind);

-- One row per run. params: "key=value" lines sorted by key. final_*: the last
-- epoch's values; best_val_loss ignores NULL (NaN) epochs. duration_s runs
-- to now for a run still running.
CREATE VIEW run_summary AS
SELECT r.id AS run_id,
       e.name AS experiment,
       r.status,
       r.sweep_id,
       r.trial_index,
       (SELECT group_concat(key || '=' || value, char(10))
          FROM (SELECT key, value FROM run_params p WHERE p.run_id = r.id ORDER BY key)) AS params,
       (SELECT m.epoch FROM epoch_metrics m WHERE m.run_id = r.id ORDER BY m.epoch DESC LIMIT 1) AS final_epoch,
       (SELECT m.train_loss FROM epoch_metrics m WHERE m.run_id = r.id ORDER BY m.epoch DESC LIMIT 1) AS final_train_loss,
       (SELECT m.val_loss FROM epoch_metrics m WHERE m.run_id = r.id ORDER BY m.epoch DESC LIMIT 1) AS final_val_loss,
       (SELECT m.val_loss FROM epoch_metrics m WHERE m.run_id = r.id AND m.val_loss IS NOT NULL
         ORDER BY m.val_loss ASC, m.epoch ASC LIMIT 1) AS best_val_loss,
       (SELECT m.epoch FROM epoch_metrics m WHERE m.run_id = r.id AND m.val_loss IS NOT NULL
         ORDER BY m.val_loss ASC, m.epoch ASC LIMIT 1) AS best_val_epoch,
       (SELECT count(*) FROM events v WHERE v.run_id = r.id AND v.kind = 'divergence') AS divergence_events,
       r.started_at,
       r.ended_at,
       round((julianday(coalesce(r.ended_at, strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))) - julianday(r.started_at)) * 86400.0, 3)
         AS duration_s
  FROM runs r JOIN experiments e ON e.id = r.experiment_id;
)sql", ""},
// Version 2: run identity and files. A run's integer id is unique within one
// database only; its uuid is unique everywhere (checkpoints carry it, merged
// databases key on it). Runs made before version 2 get a random uuid here.
// Every file a run leaves (checkpoints, audio, reports) is an artifacts row,
// its path relative to the database's folder, so it is found from any working
// directory. A sweep records its --set list so `sweep --resume ID` needs no file.
{R"sql(
ALTER TABLE runs ADD COLUMN uuid TEXT;
UPDATE runs SET uuid = lower(hex(randomblob(4))) || '-' || lower(hex(randomblob(2))) || '-4' ||
                       substr(lower(hex(randomblob(2))), 2) || '-' || substr('89ab', 1 + abs(random()) % 4, 1) ||
                       substr(lower(hex(randomblob(2))), 2) || '-' || lower(hex(randomblob(6)))
 WHERE uuid IS NULL;
CREATE UNIQUE INDEX runs_by_uuid ON runs(uuid);

ALTER TABLE sweeps ADD COLUMN overrides TEXT NOT NULL DEFAULT '[]';
ALTER TABLE sweeps ADD COLUMN source_path TEXT;
-- SHA-256 of the experiment text, the grid and the --set list: the shards of
-- one sweep, each in its own database, are one sweep again after merging.
ALTER TABLE sweeps ADD COLUMN identity TEXT;
CREATE INDEX sweeps_by_identity ON sweeps(identity);

-- `distill oracle`: the best a representation can give, per data settings
-- and corpus (no model). file = '' holds the total over the files.
CREATE TABLE oracle_results (
  settings_hash      TEXT NOT NULL,
  settings           TEXT NOT NULL,
  corpus_fingerprint TEXT NOT NULL,
  file               TEXT NOT NULL,
  chunks             INTEGER NOT NULL,
  spectral_convergence REAL,
  log_spectral_distance_db REAL,
  mrstft             REAL,
  mel_error          REAL,
  if_error           REAL,
  created_at         TEXT NOT NULL,
  PRIMARY KEY (settings_hash, corpus_fingerprint, file)
);

CREATE TABLE artifacts (
  run_id     INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
  kind       TEXT NOT NULL,
  path       TEXT NOT NULL,
  bytes      INTEGER NOT NULL,
  sha256     TEXT NOT NULL,
  created_at TEXT NOT NULL,
  PRIMARY KEY (run_id, path)
);
)sql", ""},
// Version 3: metrics contract v2 (issue 18). Added by the column declarations
// (store/metric_columns.hpp): step_metrics.steps_per_epoch (the value
// total_steps always held, under its right name) and has_nonfinite on every
// metrics table (1 when `nonfinite` is not NULL, so NaN/inf rows are found
// with WHERE has_nonfinite = 1). Both are backfilled here.
//
// Reference columns are NULL from now on when no loss entry of the run
// declares their metric. Version 2 wrote 0 there instead, having matched
// these plugin ids: stft -> stft_loss; mag_l1 -> mag_recon_loss; if_l1 ->
// if_recon_loss; mag_l1 and if_l1 -> recon_loss; kl -> kl_loss, kl_weight,
// kl_divergence (and the val_ columns alike). Where the run's loss plugins are
// recorded and the matching one is not among them, that 0 becomes NULL; a
// run with no recorded loss plugins keeps its values.
{"", R"sql(
UPDATE step_metrics SET steps_per_epoch = total_steps;
UPDATE step_metrics SET has_nonfinite = 1 WHERE nonfinite IS NOT NULL;
UPDATE epoch_metrics SET has_nonfinite = 1 WHERE nonfinite IS NOT NULL;
UPDATE loss_terms SET has_nonfinite = 1 WHERE nonfinite IS NOT NULL;

CREATE TEMP TABLE v2_absent (run_id INTEGER NOT NULL, plugin TEXT NOT NULL);
INSERT INTO v2_absent (run_id, plugin)
SELECT r.id, p.plugin FROM runs r, (SELECT 'stft' AS plugin UNION ALL SELECT 'mag_l1' UNION ALL SELECT 'if_l1'
                                   UNION ALL SELECT 'kl') p
 WHERE EXISTS (SELECT 1 FROM run_plugins x WHERE x.run_id = r.id AND x.role = 'loss')
   AND NOT EXISTS (SELECT 1 FROM run_plugins x WHERE x.run_id = r.id AND x.role = 'loss' AND x.plugin_id = p.plugin);

UPDATE step_metrics SET stft_loss = NULL WHERE run_id IN (SELECT run_id FROM v2_absent WHERE plugin = 'stft');
UPDATE step_metrics SET mag_recon_loss = NULL WHERE run_id IN (SELECT run_id FROM v2_absent WHERE plugin = 'mag_l1');
UPDATE step_metrics SET if_recon_loss = NULL WHERE run_id IN (SELECT run_id FROM v2_absent WHERE plugin = 'if_l1');
UPDATE step_metrics SET recon_loss = NULL
 WHERE run_id IN (SELECT run_id FROM v2_absent WHERE plugin = 'mag_l1')
   AND run_id IN (SELECT run_id FROM v2_absent WHERE plugin = 'if_l1');
UPDATE step_metrics SET kl_loss = NULL, kl_weight = NULL
 WHERE run_id IN (SELECT run_id FROM v2_absent WHERE plugin = 'kl');

UPDATE epoch_metrics SET val_stft_loss = NULL WHERE run_id IN (SELECT run_id FROM v2_absent WHERE plugin = 'stft');
UPDATE epoch_metrics SET val_mag_recon_loss = NULL
 WHERE run_id IN (SELECT run_id FROM v2_absent WHERE plugin = 'mag_l1');
UPDATE epoch_metrics SET val_if_recon_loss = NULL
 WHERE run_id IN (SELECT run_id FROM v2_absent WHERE plugin = 'if_l1');
UPDATE epoch_metrics SET val_recon_loss = NULL
 WHERE run_id IN (SELECT run_id FROM v2_absent WHERE plugin = 'mag_l1')
   AND run_id IN (SELECT run_id FROM v2_absent WHERE plugin = 'if_l1');
UPDATE epoch_metrics SET val_kl_loss = NULL, kl_divergence = NULL
 WHERE run_id IN (SELECT run_id FROM v2_absent WHERE plugin = 'kl');

DROP TABLE temp.v2_absent;
)sql"}}};

namespace {

const char* sql_type(ColumnKind kind) {
    switch (kind) {
        case ColumnKind::kInteger:
        case ColumnKind::kIndex: return "INTEGER";
        case ColumnKind::kText:
        case ColumnKind::kNonfiniteList: return "TEXT";
        case ColumnKind::kReal:
        case ColumnKind::kReference: return "REAL";
        case ColumnKind::kNonfiniteFlag: return "INTEGER NOT NULL DEFAULT 0 CHECK (has_nonfinite IN (0, 1))";
    }
    return "";
}

template <class Row>
void add_columns(std::string& sql, const MetricTable<Row>& table, int version) {
    for (const Column<Row>& c : table)
        if (c.since == version && version > 1)
            sql += std::string("ALTER TABLE ") + table.name + " ADD COLUMN " + c.name + " " + sql_type(c.kind) + ";\n";
}

}  // namespace

std::string migration_sql(int version) {
    const Migration& m = kMigrations.at(static_cast<size_t>(version - 1));
    std::string sql = m.sql;
    add_columns(sql, kStepTable, version);
    add_columns(sql, kEpochTable, version);
    add_columns(sql, kLossTermTable, version);
    return sql + m.after;
}

void apply_migration(SQLite::Database& db, int version) { db.exec(migration_sql(version)); }

std::vector<std::string> table_columns(SQLite::Database& db, const std::string& table) {
    SQLite::Statement info(db, "SELECT name FROM pragma_table_info(?1) ORDER BY cid");
    info.bind(1, table);
    std::vector<std::string> names;
    while (info.executeStep()) names.push_back(info.getColumn(0).getString());
    return names;
}

}  // namespace distill::store
