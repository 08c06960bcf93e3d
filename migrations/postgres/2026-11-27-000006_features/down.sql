DROP TABLE provisioning_records;
DROP TABLE feature_activations;
DROP TABLE features;
