"""Export: the inference `graph` (batch norm folded), the TFLite `signatures`, conversion (`tflite`,
`quantize` for int8 and mixed), the `runtime` that runs .tflite files, the TF-Serving `saved_model`,
the streaming `landmarks` export, the `report`, and the `export_*` commands."""
