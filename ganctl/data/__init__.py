"""Datasets as one uint8 tensor (`load_data`) and the training batch stream (`BatchStream`)."""
from ganctl.data.cache import cache_root, default_data_root
from ganctl.data.imagedata import ImageData, content_fingerprint
from ganctl.data.registry import DATASETS, DatasetInfo, dataset_names, load_data, parse_data_arg
from ganctl.data.shapes import generate_shapes
from ganctl.data.stream import BatchStream

__all__ = ["DATASETS", "BatchStream", "DatasetInfo", "ImageData", "cache_root", "content_fingerprint",
           "dataset_names", "default_data_root", "generate_shapes", "load_data", "parse_data_arg"]
