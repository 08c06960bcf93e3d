DROP INDEX profiles_imsi;
