// Block formats and their dequantisers, on hand-built blocks.
#include <doctest/doctest.h>

#include <cmath>
#include <cstring>

#include "error.hpp"
#include "random_model.hpp"
#include "tensor.hpp"

using namespace wkv;

TEST_SUITE("tensor") {

TEST_CASE("f16 conversion: known values, and every half round-trips exactly") {
    CHECK(f16_to_f32(0x3C00) == 1.0f);
    CHECK(f16_to_f32(0xC000) == -2.0f);
    CHECK(f16_to_f32(0x7BFF) == 65504.0f);
    CHECK(f16_to_f32(0x0001) == std::ldexp(1.0f, -24));     // smallest subnormal
    CHECK(f16_to_f32(0x03FF) == std::ldexp(1023.0f, -24));  // largest subnormal
    CHECK(std::isinf(f16_to_f32(0x7C00)));
    CHECK(std::isnan(f16_to_f32(0x7E00)));
    CHECK(std::signbit(f16_to_f32(0x8000)));
    int mismatches = 0;
    for (uint32_t h = 0; h < 0x10000; h++) {
        const float f = f16_to_f32(static_cast<uint16_t>(h));
        if (std::isnan(f)) continue;
        if (f32_to_f16(f) != h) mismatches++;
    }
    CHECK(mismatches == 0);
    CHECK(f32_to_f16(1.0f + std::ldexp(1.0f, -11)) == 0x3C00);  // tie rounds to even
    CHECK(f32_to_f16(1e6f) == 0x7C00);                          // overflow to infinity
}

TEST_CASE("q8_0 block: value = d * q") {
    std::vector<uint8_t> block(34);
    const uint16_t d = f32_to_f16(0.5f);
    std::memcpy(block.data(), &d, 2);
    for (int j = 0; j < 32; j++) block[2 + j] = static_cast<uint8_t>(static_cast<int8_t>(j - 16));
    TensorView t{"t", TensorType::q8_0, 1, 32, block.data(), nullptr, 0};
    std::vector<float> out(32);
    dequantize_row(t, 0, out.data());
    for (int j = 0; j < 32; j++) CHECK(out[j] == 0.5f * (j - 16));
}

TEST_CASE("q4_0 block: element j in the low nibble of byte j, j+16 in the high nibble, value (q - 8) * d") {
    std::vector<uint8_t> block(18);
    const uint16_t d = f32_to_f16(0.25f);
    std::memcpy(block.data(), &d, 2);
    for (int j = 0; j < 16; j++) block[2 + j] = static_cast<uint8_t>(j | ((15 - j) << 4));
    TensorView t{"t", TensorType::q4_0, 1, 32, block.data(), nullptr, 0};
    std::vector<float> out(32);
    dequantize_row(t, 0, out.data());
    for (int j = 0; j < 16; j++) {
        CHECK(out[j] == 0.25f * (j - 8));
        CHECK(out[j + 16] == 0.25f * (15 - j - 8));
    }
}

TEST_CASE("llama2.c q8 groups straddle rows: scales index the flattened tensor") {
    // 2 rows of 6 values, groups of 4: row 1 starts in the middle of group 1.
    std::vector<uint8_t> q = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12};
    const float scales[3] = {1.0f, 10.0f, 100.0f};
    TensorView t{"t", TensorType::q8_grouped, 2, 6, q.data(), reinterpret_cast<const uint8_t*>(scales), 4};
    std::vector<float> row(6);
    dequantize_row(t, 1, row.data());
    CHECK(row == std::vector<float>{70, 80, 900, 1000, 1100, 1200});
    CHECK(tensor_bytes("t", TensorType::q8_grouped, 2, 6, 4) == 12 + 3 * 4);
}

TEST_CASE("the q8_0 and q4_0 quantisers (llama.cpp's rounding) round-trip within their format's resolution") {
    std::vector<float> v(64);
    for (int i = 0; i < 64; i++) v[i] = std::sin(0.37f * i) * 3.0f;
    for (uint32_t type : {kGgmlQ8_0, kGgmlQ4_0}) {
        const std::vector<uint8_t> bytes = encode_ggml(v, type);
        TensorView t{"t", type == kGgmlQ8_0 ? TensorType::q8_0 : TensorType::q4_0, 2, 32, bytes.data(), nullptr, 0};
        std::vector<float> out(64);
        dequantize_row(t, 0, out.data());
        dequantize_row(t, 1, out.data() + 32);
        // q8_0 rounds to half a step (amax/127/2). q4_0 maps the extreme value
        // to -8, so values of the other sign can clamp at +7: up to a full step (amax/8).
        // The codes are computed with the f32 step, the values rebuilt with its f16
        // rounding: that adds up to |code| x step x 2^-11.
        const float step = type == kGgmlQ8_0 ? 3.0f / 127.0f : 3.0f / 8.0f;
        const float bound = type == kGgmlQ8_0 ? step * (0.5f + 127.0f / 2048.0f) : step * (1.0f + 8.0f / 2048.0f);
        for (int i = 0; i < 64; i++) CHECK(std::fabs(out[i] - v[i]) <= bound * 1.0001f);
    }
}

TEST_CASE("tensor sizes: overflow and shapes that do not fit a format are errors") {
    CHECK(tensor_bytes("t", TensorType::f16, 3, 5) == 30);
    CHECK(tensor_bytes("t", TensorType::q4_0, 2, 64) == 2 * 2 * 18);
    CHECK_THROWS_AS(tensor_bytes("t", TensorType::f32, 1ull << 40, 1ull << 40), Error);
    CHECK_THROWS_AS(tensor_bytes("t", TensorType::f32, 1ull << 62, 1), Error);
    CHECK_THROWS_AS(tensor_bytes("t", TensorType::q8_0, 1, 33), Error);
    CHECK_THROWS_AS(tensor_bytes("t", TensorType::q8_grouped, 1, 33, 32), Error);
    CHECK_THROWS_AS(tensor_bytes("t", TensorType::q8_grouped, 1, 32, 0), Error);
}

}  // TEST_SUITE("tensor")
