// Issue 18: the ABI keeps the promises plugin.h makes. Every field of the
// entry and the descriptors is checked before use; a library that breaks one
// is refused with a line naming the field, and nothing crashes.
#include "plugins/abi_check.hpp"
#include "plugins/param_schema.hpp"
#include "plugins/plugin_registry.hpp"
#include "support/shell.hpp"

#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>

namespace fs = std::filesystem;
using namespace distill::host;

namespace {

const fs::path kAbi = fs::path(DISTILL_TEST_PLUGIN_DIR) / "abi";

std::string refusal_of(const std::string& library) {
    PluginRegistry registry;
    registry.load_library(kAbi / library);
    EXPECT_EQ(registry.refusals().size(), 1u) << library;
    EXPECT_TRUE(registry.ids(DISTILL_KIND_LOSS).empty() && registry.ids(DISTILL_KIND_MODEL).empty()) << library;
    return registry.refusals().empty() ? "" : registry.refusals().front().line();
}

void expect_refused(const std::string& library, const std::string& reason) {
    const std::string line = refusal_of(library);
    EXPECT_NE(line.find(library), std::string::npos) << line;
    EXPECT_NE(line.find(reason), std::string::npos) << line;
}

}  // namespace

TEST(AbiPromises, APluginsArrayThatIsNullIsRefused) {
    // This library segfaulted `plugins list` and `validate` before.
    expect_refused("libabi_null_plugins.so", "entry: plugins is NULL but plugin_count is 1");
}

TEST(AbiPromises, AnEntrySmallerThanAbi10IsRefused) {
    expect_refused("libabi_small_entry.so", "distill_entry struct_size is 8");
}

TEST(AbiPromises, EveryMandatoryPointerIsCheckedAtLoad) {
    expect_refused("libabi_null_compute.so", "plugin 'test_c_create_error': loss->compute is NULL");
    expect_refused("libabi_model_no_forward.so", "plugin 'test_c_model_no_forward': model->forward is NULL");
}

TEST(AbiPromises, ArraysAreCheckedAgainstTheirCounts) {
    expect_refused("libabi_null_params.so", "params is NULL but param_count is 2");
    expect_refused("libabi_null_choices.so", "parameter 'mode': choices is NULL but choice_count is 2");
}

// A newer minor may append fields to distill_param_spec: the array's stride is
// the plugin's struct_size, so every parameter still reads right.
TEST(AbiPromises, LargerStructsOfANewerMinorStillRead) {
    PluginRegistry registry;
    registry.load_library(kAbi / "libabi_larger_params.so");
    ASSERT_TRUE(registry.refusals().empty()) << registry.refusals().front().line();
    const LoadedPlugin* plugin = registry.find("test_c_create_error");
    ASSERT_NE(plugin, nullptr);
    ASSERT_EQ(plugin->descriptor->param_count, 2u);
    EXPECT_STREQ(param_at(*plugin->descriptor, 0).name, "first");
    EXPECT_STREQ(param_at(*plugin->descriptor, 1).name, "second");
    EXPECT_STREQ(param_at(*plugin->descriptor, 1).default_value.string_value, "b");
}

TEST(AbiPromises, EveryCommandSurvivesABrokenLibraryOnThePath) {
    for (const char* command : {"plugins list", "validate /nonexistent.toml"}) {
        const auto [status, out] =
            distill::test_support::run_shell(std::string(DISTILL_BINARY) + " " + command + " --plugin-path " + kAbi.string());
        ASSERT_LT(status, 128) << command << " died: " << out;
        EXPECT_EQ(status, 2) << command << ": " << out;
        EXPECT_NE(out.find("refused plugin library"), std::string::npos) << out;
    }
}

// ABI 1.1: a loss plugin declares the reference metrics it fills
// (distill_metric_binding). What it declares is checked at load like every
// other field.
TEST(AbiPromises, MetricDeclarationsAreCheckedAtLoad) {
    expect_refused("libabi_metrics_unknown.so",
                   "plugin 'test_c_create_error': unknown reference metric 'stft_los' (did you mean 'stft_loss'?)");
    expect_refused("libabi_metrics_twice.so", "plugin 'test_c_create_error': metric 'kl_loss' is declared twice");
    expect_refused("libabi_metrics_null.so", "plugin 'test_c_create_error': metrics is NULL but metric_count is 1");
    expect_refused("libabi_model_metrics.so",
                   "plugin 'test_c_model_metrics': a model plugin declares reference metrics");
}

// A library of a newer minor may use a larger binding struct and name a
// metric this host does not know yet: it loads, the known ones are read at
// the plugin's stride, the unknown one is left out.
TEST(AbiPromises, MetricDeclarationsOfANewerMinorStillRead) {
    PluginRegistry registry;
    registry.load_library(kAbi / "libabi_metrics_larger.so");
    ASSERT_TRUE(registry.refusals().empty()) << registry.refusals().front().line();
    const LoadedPlugin* plugin = registry.find("test_c_create_error");
    ASSERT_NE(plugin, nullptr);
    const auto metrics = declared_metrics(*plugin->descriptor);
    ASSERT_EQ(metrics.size(), 2u);
    EXPECT_EQ(metrics[0].name, "stft_loss");
    EXPECT_EQ(metrics[0].source, "sc");
    EXPECT_EQ(metrics[1].name, "recon_loss");
    EXPECT_EQ(metrics[1].source, "loss") << "NULL means the loss";
}

// An ABI 1.0 descriptor ends before the metric fields: whatever lies in
// memory after it is not read, and the plugin declares nothing.
TEST(AbiPromises, AnAbi10DescriptorDeclaresNoMetrics) {
    PluginRegistry registry;
    registry.load_library(kAbi / "libabi_descriptor_10.so");
    ASSERT_TRUE(registry.refusals().empty()) << registry.refusals().front().line();
    const LoadedPlugin* plugin = registry.find("test_c_create_error");
    ASSERT_NE(plugin, nullptr);
    EXPECT_TRUE(declared_metrics(*plugin->descriptor).empty());
}
