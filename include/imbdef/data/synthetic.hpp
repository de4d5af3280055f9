#pragma once
// The built-in synthetic dataset: procedural surfaces (brushed metal, woven fabric, wood, speckled
// ceramic) and parts on a backdrop (discs, plates) with defects (scratches, cracks, holes, stains,
// fraying) and their exact masks, generated deterministically from a seed with a chosen imbalance.
// It is the embedded default that makes every command work with no download, and the data with
// known ground truth the tests use. docs/synthetic-data.md describes what it draws.
//
//   synthetic_config            seed, resolution, channels, counts, scene and defect kinds
//   generate_sample(cfg, i)     image, defect mask, valid region, labels and ground truth
//   generate_background(cfg, i) the same sample with its defects left out
//   generate_samples(cfg, a, n) a range, in parallel
//   write_synthetic_dataset     the whole dataset in the MVTec AD layout, with valid regions

#include "synthetic/config.hpp"
#include "synthetic/sample.hpp"
#include "synthetic/writer.hpp"
