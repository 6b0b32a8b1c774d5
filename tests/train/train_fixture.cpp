#include "train_fixture.hpp"

#include <pwd.h>

namespace distill::train::testing {

fs::path run_dir(const fs::path& db, int64_t run_id) {
    store::RunStore store(db, store::OpenMode::kReadOnly);
    return store.files_root() / store.run(run_id).uuid;
}

fs::path test_plugin_dir() { return DISTILL_TRAIN_TEST_PLUGIN_DIR; }

Finished run_with_test_plugins(const fs::path& dir, const fs::path& experiment) {
    return run_distill(dir, {"run", experiment.string(), "--db", "runs.db", "--plugin-path", test_plugin_dir().string()});
}

int nobody_uid() {
    const passwd* entry = ::getpwnam("nobody");
    return entry != nullptr ? static_cast<int>(entry->pw_uid) : 65534;
}

std::string where(const store::StepMetrics& row) {
    return "epoch " + std::to_string(row.epoch) + " step " + std::to_string(row.step);
}

}  // namespace distill::train::testing
