#include "data/augment.hpp"

#include "data/chunker.hpp"

#include <soxr.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <sstream>
#include <stdexcept>

namespace distill::data {

std::string augment_cache_key(const std::string& feature_key, const AugmentConfig& a) {
    std::ostringstream k;
    k.precision(17);
    k << feature_key << "|augment=v1|expansion=" << a.expansion << "|seed=" << a.seed << "|speed_p=" << a.speed_p
      << "|speed=";
    for (const double f : a.speed_factors) k << f << ",";
    k << "|noise_p=" << a.noise_p << "|snr=" << a.snr_min_db << "," << a.snr_max_db << "|gain_p=" << a.gain_p
      << "|gain=" << a.gain_min << "," << a.gain_max;
    return k.str();
}

std::mt19937_64 augment_rng(const AugmentConfig& a, const std::filesystem::path& file) {
    const uint64_t path_hash = std::hash<std::string>{}(file.string());
    std::seed_seq seq{static_cast<uint32_t>(a.seed), static_cast<uint32_t>(a.seed >> 32),
                      static_cast<uint32_t>(path_hash), static_cast<uint32_t>(path_hash >> 32)};
    return std::mt19937_64(seq);
}

void augment_chunk(const float* chunk, int64_t len, const AugmentConfig& a, std::mt19937_64& rng, float* out) {
    std::uniform_real_distribution<double> unit(0.0, 1.0);
    // Every draw is made whatever the branch, so one copy's choices never
    // shift the next copy's random stream.
    const double speed_draw = unit(rng), noise_draw = unit(rng), gain_draw = unit(rng);
    const double factor = a.speed_factors.empty()
                              ? 1.0
                              : a.speed_factors[std::min(a.speed_factors.size() - 1,
                                                         static_cast<size_t>(unit(rng) * a.speed_factors.size()))];
    const double snr_db = a.snr_min_db + (a.snr_max_db - a.snr_min_db) * unit(rng);
    const double gain = a.gain_min + (a.gain_max - a.gain_min) * unit(rng);
    const uint64_t noise_seed = rng();

    // Speed: played `factor` times faster is the chunk resampled to 1/factor
    // of its length, then re-cut or zero-padded to the chunk length.
    std::vector<float> x(chunk, chunk + len);
    if (speed_draw < a.speed_p && factor != 1.0) {
        std::vector<float> resampled(static_cast<size_t>(std::ceil(static_cast<double>(len) / factor)) + 16);
        size_t done = 0;
        const soxr_quality_spec_t quality = soxr_quality_spec(SOXR_HQ, 0);
        const soxr_error_t error = soxr_oneshot(factor, 1.0, 1, x.data(), static_cast<size_t>(len), nullptr,
                                                resampled.data(), resampled.size(), &done, nullptr, &quality, nullptr);
        if (error != nullptr) throw std::runtime_error(std::string("speed perturbation: libsoxr: ") + error);
        resampled.resize(done);
        resampled.resize(static_cast<size_t>(len), 0.0f);
        x.swap(resampled);
    }
    if (noise_draw < a.noise_p) {
        double power = 0.0;
        for (const float v : x) power += static_cast<double>(v) * v;
        power /= static_cast<double>(len);
        const double sigma = std::sqrt(power / std::pow(10.0, snr_db / 10.0));
        std::mt19937_64 noise_rng(noise_seed);
        std::normal_distribution<double> gauss(0.0, sigma);
        if (sigma > 0)
            for (float& v : x) v = static_cast<float>(v + gauss(noise_rng));
    }
    if (gain_draw < a.gain_p)
        for (float& v : x) v = static_cast<float>(v * gain);
    for (float& v : x) v = std::clamp(v, -1.0f, 1.0f);
    std::copy(x.begin(), x.end(), out);
    peak_normalise(out, len);
}

}  // namespace distill::data
