#pragma once
// Augmentation policies (DESIGN.md, "Policies"; docs/policies.md, "augmentation"): what the
// discriminators see in place of the raw batch, with the exact transpose for their input gradients.
//   augmentation_policy   the concept (augmentation/concept.hpp)
//   no_augmentation       the identity
//   ada, ada_options      StyleGAN2-ADA's 'bgc' pipeline (augmentation/ada.hpp, ada_params.hpp)
//   ada_tuner, ada_state  the adjustment of ada's p and its checkpointable state (augmentation/ada_tuner.hpp)

#include "augmentation/ada.hpp"
#include "augmentation/ada_params.hpp"
#include "augmentation/ada_tuner.hpp"
#include "augmentation/concept.hpp"
