#pragma once
// The image filters of the losses and metrics, one header each: Sobel gradients and magnitude,
// the binomial 3 x 3 low-pass, the exp2 and Gaussian blurs, and resize (area / bicubic).

#include "binomial_lowpass.hpp"
#include "blur.hpp"
#include "resize.hpp"
#include "sobel.hpp"
