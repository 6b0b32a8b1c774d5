// The frame count a WAV or AIFF header declares. libsndfile quietly clamps
// its own count to what the file holds, so a truncated file can only be told
// from a whole one by reading the header ourselves.
#pragma once

#include <cstdint>

namespace distill::data {

// Reads the header of the open file `fd` with pread (its offset is left
// alone). Returns the declared frames, or -1 when the format is neither
// RIFF/WAVE nor FORM/AIFF(C), or the header does not say (a streamed WAV's
// 0 or 0xFFFFFFFF data size, no fmt chunk before data, ...).
int64_t declared_frames(int fd);

}  // namespace distill::data
