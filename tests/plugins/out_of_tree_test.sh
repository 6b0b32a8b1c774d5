#!/usr/bin/env bash
# Installs distill + SDK into a temp prefix, builds a plugin from a temp copy
# of tests/plugins/out_of_tree against the installed SDK only, then has the
# installed host (no rebuild) load it, describe it and call it.
set -euo pipefail
build_dir=$1
source_dir=$2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

cmake --install "$build_dir" --prefix "$work/prefix" >/dev/null
cp -r "$source_dir/tests/plugins/out_of_tree" "$work/src"
generator=()
command -v ninja >/dev/null && generator=(-G Ninja)
cmake -S "$work/src" -B "$work/build" "${generator[@]}" -DCMAKE_PREFIX_PATH="$work/prefix" >/dev/null
cmake --build "$work/build" >/dev/null

distill="$work/prefix/bin/distill"
plugin_dir="$work/build"
"$distill" plugins list --plugin-path "$plugin_dir" | grep -q "^oot_abs_mean .* $plugin_dir/liboot_abs_mean.so" \
  || { echo "installed host did not list the out-of-tree plugin"; "$distill" plugins list --plugin-path "$plugin_dir"; exit 1; }
"$distill" plugins describe oot_abs_mean --plugin-path "$plugin_dir" | grep -q "factor on the mean absolute error"
out=$("$distill" plugins check oot_abs_mean --plugin-path "$plugin_dir")
echo "$out"
grep -q "oot_abs_mean: compute ok; loss = .*; gradient finite" <<<"$out"
# The installed host also finds the installed in-tree plugins by default.
echo "out-of-tree plugin built against the installed SDK and loaded by the installed host"
