#pragma once
// The training infrastructure: Adam over flat parameters (train/adam.hpp), the generator EMA
// (train/ema.hpp), safetensors checkpoints (train/checkpoint.hpp), the JSON-lines log
// (train/log.hpp), the progress display (train/progress.hpp), and the HTML report with its SVG
// charts (train/report.hpp, train/chart.hpp).

#include "train/adam.hpp"
#include "train/background_sampler.hpp"
#include "train/background_trainer.hpp"
#include "train/chart.hpp"
#include "train/checkpoint.hpp"
#include "train/defect_sampler.hpp"
#include "train/defect_trainer.hpp"
#include "train/ema.hpp"
#include "train/finite_checks.hpp"
#include "train/frozen_background.hpp"
#include "train/gan_iteration.hpp"
#include "train/gan_state.hpp"
#include "train/inference_checkpoint.hpp"
#include "train/log.hpp"
#include "train/non_finite.hpp"
#include "train/optimized_network.hpp"
#include "train/progress.hpp"
#include "train/report.hpp"
#include "train/trainer_state.hpp"
#include "train/training_checkpoint.hpp"
#include "train/tuned_augmentation.hpp"
