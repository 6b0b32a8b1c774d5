// The host's side of the plugin ABI: loading, every refusal, parameter
// schemas, autograd across the boundary, and exceptions turned into errors.
#include "plugins/plugin_instance.hpp"
#include "plugins/plugin_registry.hpp"
#include "support/shell.hpp"
#include "support/temp_dir.hpp"

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <array>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>

namespace fs = std::filesystem;
using namespace distill;
using namespace distill::host;

namespace {

const fs::path kGood = fs::path(DISTILL_TEST_PLUGIN_DIR) / "good";
const fs::path kBroken = fs::path(DISTILL_TEST_PLUGIN_DIR) / "broken";
const fs::path kGoodLib = kGood / "libtest_good_plugins.so";

// The single refusal a registry made after loading one file.
Refusal only_refusal(const PluginRegistry& registry) {
    EXPECT_EQ(registry.refusals().size(), 1u);
    return registry.refusals().empty() ? Refusal{} : registry.refusals().front();
}

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

const distill_step_context kContext{sizeof(distill_step_context), 0, 1, 0, 1, 1};

}  // namespace

TEST(PluginRegistry, LoadsTheGoodTestPlugins) {
    PluginRegistry registry;
    registry.load_directory(kGood);
    EXPECT_TRUE(registry.refusals().empty());
    ASSERT_NE(registry.find("test_square"), nullptr);
    EXPECT_EQ(registry.find("test_square")->kind(), DISTILL_KIND_LOSS);
    EXPECT_EQ(std::string(registry.find("test_square")->descriptor->version), "1.2.3");
    EXPECT_EQ(registry.find("test_square")->library, fs::canonical(kGoodLib));
    EXPECT_NE(registry.find("test_throwing"), nullptr);
    EXPECT_NE(registry.find("test_c_create_error"), nullptr);  // the plain-C library
}

TEST(PluginRegistry, RefusesAFileThatIsNotASharedLibrary) {
    PluginRegistry registry;
    registry.load_library(kBroken / "not_a_library.so");
    const Refusal r = only_refusal(registry);
    EXPECT_TRUE(contains(r.line(), "not_a_library.so")) << r.line();
    EXPECT_TRUE(contains(r.reason, "not a loadable shared library")) << r.reason;
    EXPECT_TRUE(registry.plugins().empty());
}

TEST(PluginRegistry, RefusesALibraryWithoutTheEntrySymbol) {
    PluginRegistry registry;
    registry.load_library(kBroken / "libbroken_no_entry.so");
    const Refusal r = only_refusal(registry);
    EXPECT_TRUE(contains(r.line(), "libbroken_no_entry.so")) << r.line();
    EXPECT_TRUE(contains(r.reason, "no 'distill_plugin_entry' symbol")) << r.reason;
}

TEST(PluginRegistry, RefusesADifferentAbiMajorNamingBothVersions) {
    PluginRegistry registry;
    registry.load_library(kBroken / "libbroken_abi_major.so");
    const Refusal r = only_refusal(registry);
    const std::string theirs = std::to_string(DISTILL_ABI_MAJOR + 1) + "." + std::to_string(DISTILL_ABI_MINOR);
    const std::string ours = std::to_string(DISTILL_ABI_MAJOR) + "." + std::to_string(DISTILL_ABI_MINOR);
    EXPECT_TRUE(contains(r.reason, "plugin ABI " + theirs)) << r.reason;
    EXPECT_TRUE(contains(r.reason, "host's ABI " + ours)) << r.reason;
    EXPECT_TRUE(registry.plugins().empty());
}

TEST(PluginRegistry, RefusesAnAbiMinorOlderThanTheHostNeeds) {
    // A host that needs minor 1 of the current major must refuse a library
    // built with minor 0 (every library of ABI 1.0 is such a library).
    AbiRequirement needs_newer;
    needs_newer.min_minor = DISTILL_ABI_MINOR + 1;
    PluginRegistry registry(needs_newer);
    registry.load_library(kGoodLib);
    const Refusal r = only_refusal(registry);
    EXPECT_TRUE(contains(r.reason, "is older than the oldest the host supports")) << r.reason;
    EXPECT_TRUE(registry.plugins().empty());
}

TEST(PluginRegistry, RefusesALibraryBuiltAgainstAnotherLibTorch) {
    PluginRegistry registry;
    registry.load_library(kBroken / "libbroken_torch_version.so");
    const Refusal r = only_refusal(registry);
    EXPECT_TRUE(contains(r.reason, "built against LibTorch 0.0.1")) << r.reason;
    EXPECT_TRUE(contains(r.reason, "host uses LibTorch " + host_torch_version())) << r.reason;
}

TEST(PluginRegistry, RefusesADuplicateIdNamingBothPaths) {
    PluginRegistry registry;
    registry.load_library(kGoodLib);
    registry.load_library(kBroken / "libbroken_duplicate_id.so");
    const Refusal r = only_refusal(registry);
    EXPECT_TRUE(contains(r.reason, "duplicate plugin id 'test_square'")) << r.reason;
    EXPECT_TRUE(contains(r.reason, fs::canonical(kGoodLib).string())) << r.reason;
    EXPECT_TRUE(contains(r.reason, "libbroken_duplicate_id.so")) << r.reason;
    // The first one stays in use.
    EXPECT_EQ(registry.find("test_square")->library, fs::canonical(kGoodLib));
}

TEST(PluginRegistry, OtherPluginsStayUsableAfterRefusals) {
    PluginRegistry registry;
    registry.load_all({kBroken, kGood});
    // Five broken files; the duplicate is loaded first this time, so the good
    // library's test_square is the one refused as a duplicate.
    EXPECT_EQ(registry.refusals().size(), 5u);
    ASSERT_NE(registry.find("test_throwing"), nullptr);
    LossInstance loss(*registry.find("test_throwing"), resolve_params(*registry.find("test_throwing")->descriptor,
                                                                      {{"mode", std::string("none")}}),
                      "cpu");
    auto out = loss.compute({{"recon", at::ones({2, 3})}}, kContext);
    EXPECT_DOUBLE_EQ(out.at("loss").item<double>(), 6.0);
}

TEST(PluginRegistry, UnknownPluginErrorListsWhatExists) {
    PluginRegistry registry;
    registry.load_directory(kGood);
    try {
        registry.require("test_sqare", DISTILL_KIND_LOSS);
        FAIL() << "expected PluginNotFound";
    } catch (const PluginNotFound& e) {
        EXPECT_TRUE(contains(e.what(), "unknown loss plugin 'test_sqare'")) << e.what();
        EXPECT_TRUE(contains(e.what(), "test_square")) << e.what();
    }
    EXPECT_THROW(registry.require("test_square", DISTILL_KIND_MODEL), PluginNotFound);
}

TEST(PluginInstance, CreateThatThrowsBecomesAnErrorNamingPluginAndCall) {
    PluginRegistry registry;
    registry.load_directory(kGood);
    const LoadedPlugin& p = *registry.find("test_create_fails");
    try {
        LossInstance loss(p, resolve_params(*p.descriptor, {}), "cpu");
        FAIL() << "expected PluginCallError";
    } catch (const PluginCallError& e) {
        EXPECT_EQ(e.plugin_id(), "test_create_fails");
        EXPECT_EQ(e.call(), "create");
        EXPECT_EQ(std::string(e.what()),
                  "plugin 'test_create_fails': create failed: deliberate failure in the constructor");
    }
}

TEST(PluginInstance, CreateThatReturnsAnErrorFromPlainC) {
    PluginRegistry registry;
    registry.load_directory(kGood);
    const LoadedPlugin& p = *registry.find("test_c_create_error");
    try {
        LossInstance loss(p, {}, "cpu");
        FAIL() << "expected PluginCallError";
    } catch (const PluginCallError& e) {
        EXPECT_TRUE(contains(e.what(), "plugin 'test_c_create_error': create failed: no GPU named 'imaginary'"))
            << e.what();
    }
}

TEST(PluginInstance, ExceptionsInsideComputeBecomeErrorsAndTheHostGoesOn) {
    PluginRegistry registry;
    registry.load_directory(kGood);
    const LoadedPlugin& p = *registry.find("test_throwing");
    const std::array<std::pair<const char*, const char*>, 3> cases{{{"c10", "deliberate c10 error in compute"},
                                                                    {"std", "deliberate std error in compute"},
                                                                    {"unknown", "unknown exception"}}};
    for (const auto& [mode, message] : cases) {
        LossInstance loss(p, resolve_params(*p.descriptor, {{"mode", std::string(mode)}}), "cpu");
        try {
            loss.compute({{"recon", at::ones({2})}}, kContext);
            FAIL() << "expected PluginCallError for mode " << mode;
        } catch (const PluginCallError& e) {
            EXPECT_EQ(e.call(), "compute");
            EXPECT_TRUE(contains(e.what(), message)) << e.what();
        }
    }
}

TEST(PluginInstance, MissingInputIsABadInputError) {
    PluginRegistry registry;
    registry.load_directory(kGood);
    const LoadedPlugin& p = *registry.find("test_square");
    LossInstance loss(p, resolve_params(*p.descriptor, {}), "cpu");
    try {
        loss.compute({{"recon", at::ones({2})}}, kContext);
        FAIL();
    } catch (const PluginCallError& e) {
        EXPECT_EQ(e.code(), 2);
        EXPECT_TRUE(contains(e.what(), "missing input 'target'")) << e.what();
    }
}

TEST(PluginInstance, GradientCrossesTheBoundaryUnchanged) {
    PluginRegistry registry;
    registry.load_directory(kGood);
    const LoadedPlugin& p = *registry.find("test_square");
    LossInstance loss(p, resolve_params(*p.descriptor, {{"scale", 2.5}}), "cpu");

    at::manual_seed(1);
    const at::Tensor target = at::randn({4, 5});
    const at::Tensor base = at::randn({4, 5});
    // Through the plugin: the tensor is a non-leaf of a host-side graph, so
    // the gradient must flow through the plugin's ops back into `leaf`.
    at::Tensor leaf = base.clone().requires_grad_(true);
    auto out = loss.compute({{"recon", leaf * 3.0}, {"target", target}}, kContext);
    out.at("loss").backward();
    // The same expression in the host.
    at::Tensor host_leaf = base.clone().requires_grad_(true);
    ((host_leaf * 3.0 - target).pow(2).mean() * 2.5).backward();

    EXPECT_TRUE(out.at("loss").requires_grad());
    EXPECT_FALSE(out.at("mse").requires_grad());
    EXPECT_TRUE(at::allclose(leaf.grad(), host_leaf.grad(), 1e-6, 1e-7));
    // d/dx of 2.5 * mean((3x - t)^2) = 2.5 * 2 * 3 * (3x - t) / 20
    EXPECT_TRUE(at::allclose(leaf.grad(), 2.5 * 6.0 * (base * 3.0 - target) / 20.0, 1e-5, 1e-6));
}

TEST(ParamSchema, DefaultsRangesChoicesAndSuggestions) {
    PluginRegistry registry;
    registry.load_directory(kGood);
    const auto& square = *registry.find("test_square")->descriptor;
    const ParamValues defaults = resolve_params(square, {});
    ASSERT_EQ(defaults.size(), 1u);
    EXPECT_EQ(std::get<double>(defaults[0].second), 1.0);
    // An int is accepted for a float parameter.
    EXPECT_EQ(std::get<double>(resolve_params(square, {{"scale", int64_t{3}}})[0].second), 3.0);
    try {
        resolve_params(square, {{"scael", 2.0}});
        FAIL();
    } catch (const std::invalid_argument& e) {
        EXPECT_TRUE(contains(e.what(), "has no parameter 'scael' (did you mean 'scale'?)")) << e.what();
    }
    EXPECT_THROW(resolve_params(square, {{"scale", -1.0}}), std::invalid_argument);
    EXPECT_THROW(resolve_params(square, {{"scale", std::string("big")}}), std::invalid_argument);
    const auto& throwing = *registry.find("test_throwing")->descriptor;
    try {
        resolve_params(throwing, {{"mode", std::string("loud")}});
        FAIL();
    } catch (const std::invalid_argument& e) {
        EXPECT_TRUE(contains(e.what(), "one of c10|std|unknown|none")) << e.what();
    }
}

namespace {
struct CommandResult {
    int status;
    std::string output;
};
CommandResult run_command(const std::string& command) {
    const auto result = distill::test_support::run_shell(command);
    return {result.exit_code, result.output};
}
}  // namespace

TEST(PluginsCommand, ListsTheTestPlugins) {
    const auto r = run_command(std::string(DISTILL_BINARY) + " plugins list --plugin-path " + kGood.string());
    EXPECT_EQ(r.status, 0) << r.output;
    EXPECT_TRUE(contains(r.output, "test_square")) << r.output;
    EXPECT_TRUE(contains(r.output, "1.2.3")) << r.output;
    EXPECT_TRUE(contains(r.output, "test_c_create_error")) << r.output;
}

TEST(PluginsCommand, RefusalsAreOneLineEachExitTwoAndTheRestStillListed) {
    const auto r = run_command(std::string(DISTILL_BINARY) + " plugins list --plugin-path " + kGood.string() + ":" +
                               kBroken.string());
    EXPECT_EQ(r.status, 2) << r.output;
    EXPECT_TRUE(contains(r.output, "test_throwing")) << r.output;
    size_t refusal_lines = 0;
    for (size_t pos = 0; (pos = r.output.find("refused plugin library", pos)) != std::string::npos; ++pos)
        ++refusal_lines;
    EXPECT_EQ(refusal_lines, 5u) << r.output;
}

TEST(PluginsCommand, DescribeShowsSchemaAndCheckCallsThePlugin) {
    auto r = run_command(std::string(DISTILL_BINARY) + " plugins describe test_square --plugin-path " + kGood.string());
    EXPECT_EQ(r.status, 0) << r.output;
    EXPECT_TRUE(contains(r.output, "scale (float, default 1.0, >= 0.0)")) << r.output;
    EXPECT_TRUE(contains(r.output, "factor on the mean squared error")) << r.output;
    r = run_command(std::string(DISTILL_BINARY) + " plugins check test_square --plugin-path " + kGood.string());
    EXPECT_EQ(r.status, 0) << r.output;
    EXPECT_TRUE(contains(r.output, "compute ok")) << r.output;
    r = run_command(std::string(DISTILL_BINARY) + " plugins describe nope --plugin-path " + kGood.string());
    EXPECT_EQ(r.status, 2) << r.output;
    EXPECT_TRUE(contains(r.output, "unknown plugin 'nope'")) << r.output;
}

// Issue 18: `plugins check` makes the checks `run` makes at every training
// step, and each failure is one line naming the plugin (no LibTorch trace).
TEST(PluginsCommand, CheckRunsTheRunValidationsNamingThePlugin) {
    struct Case {
        const char* id;
        int status;
        const char* message;
    };
    const Case cases[] = {
        {"test_detached", 2, "plugin 'test_detached': compute returned a 'loss' that is not attached to the autograd graph"},
        {"test_per_item", 2, "plugin 'test_per_item': compute returned a 'loss' of shape [2], not a scalar"},
        {"test_sub_per_item", 2, "plugin 'test_sub_per_item': compute returned sub-term 'kl_raw' of shape [2], not a scalar"},
        {"test_no_source", 2,
         "plugin 'test_no_source': compute returned no 'kl_raw', which the plugin declares as the source of reference "
         "metric 'kl_divergence'"},
        {"test_nan", 1, "plugin 'test_nan': compute returned a loss of nan on random inputs"},
    };
    for (const Case& c : cases) {
        const auto r = run_command(std::string(DISTILL_BINARY) + " plugins check " + c.id + " --plugin-path " +
                                   kGood.string());
        EXPECT_EQ(r.status, c.status) << c.id << ": " << r.output;
        EXPECT_TRUE(contains(r.output, c.message)) << c.id << ": " << r.output;
        EXPECT_FALSE(contains(r.output, "Exception raised from")) << c.id << ": " << r.output;
        EXPECT_FALSE(contains(r.output, "compute ok")) << c.id << ": " << r.output;
    }
    // The built-in KL plugin passes: the check gives mu and logvar a graph, as a model does.
    const auto kl = run_command(std::string(DISTILL_BINARY) + " plugins check kl --plugin-path " + DISTILL_PLUGIN_DIR);
    EXPECT_EQ(kl.status, 0) << kl.output;
    EXPECT_TRUE(contains(kl.output, "kl: compute ok")) << kl.output;
    EXPECT_TRUE(contains(kl.output, "reference metrics: kl_loss (loss), kl_weight (its weight), kl_divergence (kl_raw)"))
        << kl.output;
}

// `plugins describe` says which reference columns a loss plugin fills.
TEST(PluginsCommand, DescribeListsTheReferenceMetrics) {
    auto r = run_command(std::string(DISTILL_BINARY) + " plugins describe test_detached --plugin-path " + kGood.string());
    EXPECT_EQ(r.status, 0) << r.output;
    EXPECT_TRUE(contains(r.output, "reference metrics: mag_recon_loss (loss), kl_divergence (kl_raw)")) << r.output;
    r = run_command(std::string(DISTILL_BINARY) + " plugins describe test_square --plugin-path " + kGood.string());
    EXPECT_TRUE(contains(r.output, "reference metrics: none (its values are in loss_terms only)")) << r.output;
    r = run_command(std::string(DISTILL_BINARY) + " plugins describe stft --plugin-path " + DISTILL_PLUGIN_DIR);
    EXPECT_TRUE(contains(r.output, "reference metrics: stft_loss (loss)")) << r.output;
}

// Issue 18: range messages read as sentences ("= -1 is out of >= 0" before),
// and an unbounded number that is NaN still says what was wanted.
TEST(ParamSchema, OutOfRangeMessagesNameTheBoundAndTheValue) {
    distill_param_spec spec{};
    spec.struct_size = sizeof spec;
    spec.name = "gain";
    spec.type = DISTILL_PARAM_FLOAT;
    spec.has_min = 1;
    spec.min = 0.0;
    const auto message = [&spec](const ParamValue& v) {
        try {
            check_value(spec, v);
        } catch (const std::invalid_argument& e) {
            return std::string(e.what());
        }
        return std::string("(accepted)");
    };
    EXPECT_EQ(message(-1.0), "parameter 'gain' must be >= 0.0, got -1.0");
    spec.has_max = 1;
    spec.max = 2.0;
    EXPECT_EQ(message(3.0), "parameter 'gain' must be in [0.0, 2.0], got 3.0");
    spec.has_min = spec.has_max = 0;
    EXPECT_EQ(message(std::nan("")), "parameter 'gain' must be a number, got nan");
    spec.type = DISTILL_PARAM_INT;
    spec.has_min = 1;
    spec.min = 1;
    EXPECT_EQ(message(int64_t{0}), "parameter 'gain' must be >= 1, got 0");
    EXPECT_EQ(message(std::string("x")), "parameter 'gain' must be an int, got \"x\"");
}

// Issue 18: a default reads the same in `plugins describe` and in the settings
// `validate` resolves (it printed "default 1" and "= 1.0").
TEST(PluginsCommand, DescribeAndValidatePrintADefaultAlike) {
    const distill::test_support::TempDir tmp("distill-describe");
    const fs::path dir = tmp.path();
    std::ofstream(dir / "e.toml") << "[data]\ndir = \"" << dir.string() << "\"\n[[loss]]\nplugin = \"test_square\"\n";
    const auto described = run_command(std::string(DISTILL_BINARY) + " plugins describe test_square --plugin-path " +
                                       kGood.string());
    const auto validated = run_command(std::string(DISTILL_BINARY) + " validate " + (dir / "e.toml").string() +
                                       " --plugin-path " + kGood.string());
    ASSERT_EQ(described.status, 0) << described.output;
    ASSERT_EQ(validated.status, 0) << validated.output;
    const size_t at = described.output.find("scale (float, default ");
    ASSERT_NE(at, std::string::npos) << described.output;
    const size_t from = at + std::string("scale (float, default ").size();
    const std::string shown = described.output.substr(from, described.output.find(',', from) - from);
    EXPECT_EQ(shown, "1.0");
    EXPECT_TRUE(contains(validated.output, "\nloss.test_square.scale = " + shown + "\n")) << validated.output;
}

// Issue 18: a CLI that guides.
TEST(PluginsCommand, TyposGetASuggestionAndVersionAnswers) {
    auto r = run_command(std::string(DISTILL_BINARY) + " rnu");
    EXPECT_EQ(r.status, 2) << r.output;
    EXPECT_TRUE(contains(r.output, "unknown command 'rnu' (did you mean 'run'?)")) << r.output;
    r = run_command(std::string(DISTILL_BINARY) + " plugins describe test_squre --plugin-path " + kGood.string());
    EXPECT_EQ(r.status, 2) << r.output;
    EXPECT_TRUE(contains(r.output, "unknown plugin 'test_squre' (did you mean 'test_square'?)")) << r.output;
    r = run_command(std::string(DISTILL_BINARY) + " plugins lsit --plugin-path " + kGood.string());
    EXPECT_EQ(r.status, 2) << r.output;
    EXPECT_TRUE(contains(r.output, "did you mean 'list'?")) << r.output;
    for (const char* flag : {" version", " -V", " --version"}) {
        r = run_command(std::string(DISTILL_BINARY) + flag);
        EXPECT_EQ(r.status, 0) << flag << ": " << r.output;
        EXPECT_TRUE(contains(r.output, "plugin ABI 1.")) << flag << ": " << r.output;
    }
}
