// A temporary folder with a `corpus/` subfolder (a data.dir that exists),
// experiment files written into it, and the fake plugins registered.
#pragma once

#include "experiment/experiment.hpp"
#include "fake_plugins.hpp"
#include "plugins/plugin_registry.hpp"

#include "support/temp_dir.hpp"

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

namespace distill::test {

namespace fs = std::filesystem;

inline host::PluginRegistry fake_registry() {
    host::PluginRegistry registry;
    registry.add_entry(detail::entry<FakeConvVae, FakeStft, FakeMagL1, FakeIfL1, FakeKl>("test", "1"), "in-test");
    return registry;
}

class ExperimentTest : public ::testing::Test {
protected:
    void SetUp() override {
        fs::create_directories(dir / "corpus");
        cwd_ = fs::current_path();
    }
    void TearDown() override {
        fs::current_path(cwd_);
    }
    fs::path write(const std::string& name, const std::string& text) {
        const fs::path file = dir / name;
        fs::create_directories(file.parent_path());
        std::ofstream(file) << text;
        return file;
    }
    experiment::Experiment load(const fs::path& file, const std::vector<std::string>& overrides = {}) {
        return experiment::load_experiment(file, overrides, registry);
    }
    // The message of the ExperimentError that loading throws ("" if none).
    std::string error_of(const fs::path& file, const std::vector<std::string>& overrides = {}) {
        try {
            load(file, overrides);
        } catch (const experiment::ExperimentError& e) {
            return e.what();
        }
        return "";
    }
    static std::string value_of(const experiment::Experiment& e, const std::string& key) {
        for (const auto& [k, v] : e.resolved)
            if (k == key) return v;
        return "<missing " + key + ">";
    }

    distill::test_support::TempDir tmp{"distill-exp"};
    fs::path dir = tmp.path();
    host::PluginRegistry registry = fake_registry();

private:
    fs::path cwd_;
};

}  // namespace distill::test
