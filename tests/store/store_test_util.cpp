#include "store_test_util.hpp"

#include "support/shell.hpp"


namespace distill::store::test {

int64_t make_run(RunStore& store, const std::string& experiment, int64_t seed) {
    const int64_t exp = store.record_experiment(experiment, "name = \"" + experiment + "\"\n");
    RunInfo info;
    info.experiment_id = exp;
    info.seed = seed;
    info.device = "cpu";
    info.host_version = "0.1.0";
    return store.create_run(info);
}

std::pair<int, std::string> run_command(const std::string& command) {
    const auto result = test_support::run_shell(command);
    return {result.exit_code, result.output};
}

}  // namespace distill::store::test
