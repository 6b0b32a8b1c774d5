// Mel filterbank, magnitude and IF channels against their definitions in
// docs/reference.md#1-audio-to-features
#include "data/errors.hpp"
#include "data/features.hpp"

#include "audio_fixtures.hpp"

namespace distill::data {
namespace {
using namespace testing;

// HTK formulas written out again here so the test does not reuse the code
// under test.
double mel(double hz) { return 2595.0 * std::log10(1.0 + hz / 700.0); }
double hz(double m) { return 700.0 * (std::pow(10.0, m / 2595.0) - 1.0); }

// Edge frequency i (0 .. n_mels+1) of the HTK filterbank.
double edge(const PipelineConfig& c, int64_t i) {
    return hz(mel(c.fmin) + (mel(c.fmax) - mel(c.fmin)) * static_cast<double>(i) /
                                static_cast<double>(c.n_mels + 1));
}

at::Tensor chunk_of(const std::vector<float>& v) {
    return at::from_blob(const_cast<float*>(v.data()), {1, static_cast<int64_t>(v.size())},
                         at::kFloat).clone();
}

TEST(MelFilterbank, HtkScaleReferenceValues) {
    // HTK mel was built so that 1000 Hz is ~1000 mel; 24 kHz is 2595*log10(1+24000/700).
    EXPECT_NEAR(hz_to_mel_htk(1000.0), 999.99, 0.01);
    EXPECT_NEAR(hz_to_mel_htk(24000.0), 2595.0 * std::log10(1.0 + 24000.0 / 700.0), 1e-9);
    EXPECT_NEAR(mel_to_hz_htk(hz_to_mel_htk(3210.0)), 3210.0, 1e-9);
}

TEST(MelFilterbank, TrianglesFollowHtkEdgesAndPeakAtOne) {
    PipelineConfig cfg;
    const at::Tensor fb = mel_filterbank(cfg);
    ASSERT_EQ(fb.sizes(), (at::IntArrayRef{128, 1025}));
    auto a = fb.accessor<float, 2>();
    const double bin_hz = 48000.0 / 2048.0;
    for (int64_t m = 0; m < 128; ++m) {
        const double lo = edge(cfg, m), c = edge(cfg, m + 1), hi = edge(cfg, m + 2);
        for (int64_t k = 0; k < 1025; ++k) {
            const double f = k * bin_hz;
            double want = 0.0;
            if (f > lo && f <= c) want = (f - lo) / (c - lo);
            else if (f > c && f < hi) want = (hi - f) / (hi - c);
            ASSERT_NEAR(a[m][k], want, 1e-5) << "band " << m << " bin " << k;
            if (f <= lo || f >= hi) {
                ASSERT_EQ(a[m][k], 0.0f) << "outside band " << m << " bin " << k;
            }
        }
    }
    // Not area-normalised: the widest band (the top one, ~370 Hz = 16 bins
    // per side) has a bin within half a bin of its centre, so its peak is near 1.
    EXPECT_GT(fb[127].max().item<float>(), 0.95f);
    EXPECT_LE(fb.max().item<float>(), 1.0f);
}

TEST(MelFeatures, SineAtBinCentreLandsInExpectedBand) {
    PipelineConfig cfg;
    const double bin_hz = 48000.0 / 2048.0;
    for (int64_t band : {20, 60, 100}) {
        // The bin nearest band's centre; that band's triangle is ~1 there and
        // its neighbours' are lowest, so it must collect the most power.
        const int64_t k = std::llround(edge(cfg, band + 1) / bin_hz);
        const double f = k * bin_hz;
        const at::Tensor feat = extract_features(chunk_of(sine(f, 1.0, 48000)), cfg);
        ASSERT_EQ(feat.sizes(), (at::IntArrayRef{1, 2, 128, 94}));
        const at::Tensor power = at::expm1(feat[0][0].select(1, 47).to(at::kDouble));  // mid frame
        EXPECT_EQ(power.argmax().item<int64_t>(), band) << f << " Hz";
        // Bands more than 3 away from it hold under 1% of the frame's power
        // (Hann leakage falls off fast).
        const double total = power.sum().item<double>();
        const double near = power.narrow(0, band - 3, 7).sum().item<double>();
        EXPECT_GT(near / total, 0.99) << f << " Hz";
    }
}

TEST(IfFeatures, SteadySineGivesAnalyticPhaseAdvance) {
    PipelineConfig cfg;
    for (double f : {1000.0, 5000.0, 7777.0}) {
        // Phase advance per hop of a steady sine, wrapped to [-pi, pi), / pi:
        // 1000 Hz -> 21.33 half-turns -> -0.667; 5000 Hz -> +0.667; 7777 Hz -> -0.092.
        const double adv = 2 * kPi * f * 512 / 48000;
        const double want = (adv - 2 * kPi * std::floor((adv + kPi) / (2 * kPi))) / kPi;
        const at::Tensor feat = extract_features(chunk_of(sine(f, 1.0, 48000, 0.8, 0.3)), cfg);
        const int64_t band = feat[0][0].select(1, 47).argmax().item<int64_t>();
        const at::Tensor ifc = feat[0][1][band];
        EXPECT_EQ(ifc[0].item<float>(), 0.0f);  // frame 0 has no predecessor
        // Frames 3..91: frame t's window spans samples 512t-1024 .. 512t+1023,
        // so frames 0-1 and 92-93 reach into the reflect padding, which breaks
        // the sine's phase, and IF at frame 2 compares with frame 1.
        // Tolerance 1e-5: float32 angles plus leakage from the
        // negative-frequency image measured at most 7.3e-7 here.
        for (int64_t t = 3; t < 92; ++t)
            ASSERT_NEAR(ifc[t].item<float>(), want, 1e-5) << f << " Hz frame " << t;
    }
}

TEST(IfFeatures, MaskedExactlyWhereMelPowerIsBelowThreshold) {
    PipelineConfig cfg;
    // Silence: no power anywhere, so IF is 0 everywhere (and magnitude 0).
    const at::Tensor silent = extract_features(at::zeros({1, 48000}), cfg);
    EXPECT_EQ(silent.abs().max().item<float>(), 0.0f);

    // A loud sine: bands far from it fall under 1e-5 and must read 0, every
    // band above it must carry the (non-zero) phase advance.
    const at::Tensor feat = extract_features(chunk_of(sine(1000.0, 1.0, 48000, 1.0)), cfg);
    const at::Tensor power = at::expm1(feat[0][0].to(at::kDouble));
    const at::Tensor ifc = feat[0][1];
    const at::Tensor below = power < cfg.mask_threshold;
    ASSERT_GT(below.sum().item<int64_t>(), 0);
    EXPECT_EQ(ifc.masked_select(below).abs().max().item<float>(), 0.0f);
    EXPECT_GT(ifc.narrow(1, 1, 93).masked_select(~below.narrow(1, 1, 93)).abs().min().item<float>(), 0.0f);

    // A threshold above all power masks everything.
    PipelineConfig hi = cfg;
    hi.mask_threshold = 1e12;
    EXPECT_EQ(extract_features(chunk_of(sine(1000.0, 1.0, 48000, 1.0)), hi)[0][1].abs().max().item<float>(), 0.0f);
}

TEST(MelFeatures, ShapesAndRangesOnNoiseAndChirp) {
    PipelineConfig cfg;
    std::vector<float> both = noise(1.0, 48000, 7, 1.0);
    const auto c = chirp(50, 20000, 1.0, 48000, 1.0);
    both.insert(both.end(), c.begin(), c.end());
    const at::Tensor x = at::from_blob(both.data(), {2, 48000}, at::kFloat).clone();
    const at::Tensor feat = extract_features(x, cfg);
    ASSERT_EQ(feat.sizes(), (at::IntArrayRef{2, 2, 128, 94}));  // 1 + 48000/512 frames
    EXPECT_EQ(feat.scalar_type(), at::kFloat);
    EXPECT_GE(feat.select(1, 0).min().item<float>(), 0.0f);
    EXPECT_GE(feat.select(1, 1).min().item<float>(), -1.0f);
    EXPECT_LE(feat.select(1, 1).max().item<float>(), 1.0f);
    EXPECT_TRUE(at::isfinite(feat).all().item<bool>());
    // Batched equals one at a time.
    EXPECT_TRUE(at::allclose(feat[1], extract_features(x.narrow(0, 1, 1), cfg)[0], 1e-5, 1e-5));
}

TEST(MelFeatures, EveryParameterIsHonoured) {
    PipelineConfig cfg;
    cfg.sample_rate = 16000;
    cfg.chunk_seconds = 0.5;
    cfg.n_fft = 512;
    cfg.win_length = 400;
    cfg.hop_length = 160;
    cfg.n_mels = 40;
    cfg.fmin = 50;
    cfg.fmax = 8000;
    const at::Tensor feat = extract_features(chunk_of(noise(0.5, 16000, 3)), cfg);
    // 8000 samples -> 1 + 8000/160 = 51 frames.
    EXPECT_EQ(feat.sizes(), (at::IntArrayRef{1, 2, 40, 51}));
    EXPECT_EQ(mel_filterbank(cfg).sizes(), (at::IntArrayRef{40, 257}));
    // Bins below fmin = 50 Hz (bins 0..1 at 31.25 Hz spacing) are in no band.
    EXPECT_EQ(mel_filterbank(cfg).narrow(1, 0, 2).abs().max().item<float>(), 0.0f);
}

TEST(PipelineValidation, NamesTheBadSetting) {
    auto expect_bad = [](PipelineConfig c, const std::string& key) {
        try {
            validate_pipeline(c);
            ADD_FAILURE() << "accepted bad " << key;
        } catch (const DataError& e) {
            EXPECT_NE(std::string(e.what()).find(key), std::string::npos) << e.what();
        }
    };
    PipelineConfig c;
    EXPECT_NO_THROW(validate_pipeline(c));
    c.fmax = 30000;
    expect_bad(c, "fmax");
    c = {};
    c.win_length = 4096;
    expect_bad(c, "win_length");
    c = {};
    c.normalize = "minmax";
    expect_bad(c, "normalize");
    c = {};
    c.chunk_seconds = 0.01;  // 480 samples < n_fft/2 reflect padding
    expect_bad(c, "chunk_seconds");
}

}  // namespace
}  // namespace distill::data
