//! Integration tests: the real server, a real database, real HTTP.

mod accounts;
mod api;
mod browser;
mod campaign_schedule;
mod campaigns;
mod campaigns_api;
mod care_checks;
mod cli;
mod common;
mod dm_commands;
mod esn_change;
mod features;
mod firmware;
mod fota;
mod fota_fixes;
mod hardening;
mod import;
mod iota;
mod messaging;
mod migrations;
mod portal;
mod purge;
mod secrets;
