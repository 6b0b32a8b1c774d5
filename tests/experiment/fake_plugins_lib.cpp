// The fake plugins as a loadable library, for the `distill validate` test.
#include "fake_plugins.hpp"

DISTILL_PLUGIN_LIBRARY("experiment-test-fakes", "1", distill::test::FakeConvVae, distill::test::FakeStft,
                       distill::test::FakeMagL1, distill::test::FakeIfL1, distill::test::FakeKl)
