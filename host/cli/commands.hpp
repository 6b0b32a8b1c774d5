// Every subcommand: takes the arguments after its name, returns the exit
// status. UsageError and other exceptions are reported by main().
#pragma once

#include "cli/cli_common.hpp"

namespace distill::cli {

int cmd_plugins(const Args& args);
int cmd_runs(const Args& args);
int cmd_query(const Args& args);
int cmd_render(const Args& args);
int cmd_report(const Args& args);
int cmd_run(const Args& args);
int cmd_sweep(const Args& args);
int cmd_validate(const Args& args);
int cmd_db(const Args& args);
int cmd_oracle(const Args& args);

}  // namespace distill::cli
