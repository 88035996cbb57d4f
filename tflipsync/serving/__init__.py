"""TF-Serving: the REST and gRPC request client (`client`) for the SavedModel that deploy writes."""
