-- Creating or changing a profile looks for another one holding its IMSI
-- (MIN already has an index). Not unique: existing profiles may share one.
CREATE INDEX profiles_imsi ON profiles (imsi);
