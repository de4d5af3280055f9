#pragma once
// What one row of StyleGAN3's synthesis schedule (reference/stylegan3.md sections 3.1 and 3.5)
// says about a layer, and about the Fourier input before the first layer: plain values, no
// computation. They live here, below models/, because the modules they configure
// (synthesis_layer.hpp) are in nn; models/synthesis_schedule.hpp computes them from a handful of
// inputs and names them models::layer_spec and models::input_spec.

namespace imbdef::nn {

// One synthesis layer L_i (i = 0..N, L_N is to-RGB).
struct synthesis_layer_spec {
    int index = 0;
    bool is_torgb = false;
    bool is_critically_sampled = false;
    int in_channels = 0, out_channels = 0;
    int kernel = 3;
    int in_size = 0;    // S_in
    int conv_size = 0;  // S_in + k - 1 (full-padding conv)
    int up_size = 0;    // size of the upsampled, activated buffer
    int out_size = 0;   // S_out
    double in_sampling_rate = 0, out_sampling_rate = 0, tmp_sampling_rate = 0;
    double in_cutoff = 0, out_cutoff = 0;           // f_c of the input side (fu) and output side (fd)
    double in_half_width = 0, out_half_width = 0;   // f_h, transition half-widths
    double out_stopband = 0;                        // f_t of the output side
    int up = 1, down = 1;
    int up_taps = 1, down_taps = 1;                 // 1 = no filter
    bool radial_down_filter = false;
    int pad_lo = 0, pad_hi = 0;                     // same for x and y

    // Parameters of the layer in StyleGAN3: affine (w_dim -> C_in, with bias), weight, bias.
    long long parameter_count(int w_dim) const {
        return static_cast<long long>(w_dim) * in_channels + in_channels +
               static_cast<long long>(out_channels) * in_channels * kernel * kernel + out_channels;
    }
};

// The Fourier input that feeds L_0.
struct synthesis_input_spec {
    int channels = 0;
    int size = 0;
    double sampling_rate = 0;
    double bandwidth = 0;
};

}  // namespace imbdef::nn
