DROP TABLE install_notifications;
DROP TABLE firmware_revisions;
DROP TABLE firmware_packages;
