#include "audio/wav_out.hpp"

#include "data/audio_io.hpp"

#include <sndfile.h>

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <vector>

namespace distill::audio {

int64_t write_wav(const std::filesystem::path& file, const at::Tensor& audio, int64_t rate) {
    const at::Tensor x = audio.reshape({-1}).to(at::kCPU, at::kFloat).contiguous();
    if (!at::isfinite(x).all().item<bool>())
        throw std::runtime_error("refusing to write " + file.string() + ": the rendered audio has NaN or inf samples");
    std::vector<float> samples(x.data_ptr<float>(), x.data_ptr<float>() + x.numel());
    if (rate != kOutputRate) samples = data::resample(samples, rate, kOutputRate);
    float peak = 0.0f;
    for (const float v : samples) peak = std::max(peak, std::fabs(v));
    if (peak > 0.0f)
        for (float& v : samples) v = static_cast<float>(v / peak * kOutputPeak);

    if (file.has_parent_path()) std::filesystem::create_directories(file.parent_path());
    SF_INFO info{};
    info.samplerate = static_cast<int>(kOutputRate);
    info.channels = 1;
    info.format = SF_FORMAT_WAV | SF_FORMAT_PCM_16;
    SNDFILE* out = sf_open(file.c_str(), SFM_WRITE, &info);
    if (out == nullptr) throw std::runtime_error("cannot write " + file.string() + ": " + sf_strerror(nullptr));
    const sf_count_t written = sf_writef_float(out, samples.data(), static_cast<sf_count_t>(samples.size()));
    const int closed = sf_close(out);
    if (written != static_cast<sf_count_t>(samples.size()) || closed != 0)
        throw std::runtime_error("cannot write " + file.string() + ": short write (disk full?)");
    return static_cast<int64_t>(samples.size());
}

}  // namespace distill::audio
