// Running a shell command line from a test, output captured.
#pragma once

#include <string>

namespace distill::test_support {

struct ShellResult {
    int exit_code = -1;  // 128 + signal when killed by one
    std::string output;  // stdout and stderr together, in order
};

// `command` through /bin/sh with stderr joined to stdout.
ShellResult run_shell(const std::string& command);

// 'text' safe to paste into a shell command line.
std::string shell_quote(const std::string& text);

}  // namespace distill::test_support
