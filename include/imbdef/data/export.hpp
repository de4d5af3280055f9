#pragma once
// Detector-ready datasets from generated samples: connected components, YOLO labels, COCO
// instances (with compressed RLE), the Ultralytics data.yaml, resizing, and the dataset writer
// that ties them together (docs/export.md).

#include "export/coco.hpp"
#include "export/components.hpp"
#include "export/data_yaml.hpp"
#include "export/outline.hpp"
#include "export/resize.hpp"
#include "export/rle.hpp"
#include "export/sample.hpp"
#include "export/writer.hpp"
#include "export/yolo.hpp"
