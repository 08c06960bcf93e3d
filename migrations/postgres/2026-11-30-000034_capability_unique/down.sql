DROP INDEX capabilities_range;
