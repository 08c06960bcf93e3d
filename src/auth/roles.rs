//! Roles and what each may do. Every route asks for a permission, never for a
//! role by name, so the table below is the single place access is decided.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Admin,
    Operator,
    Firmware,
    Care,
    Subscriber,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Permission {
    /// Read the registries (devices, profiles, capabilities, audit).
    ViewRegistry,
    EditProfiles,
    EditDevices,
    EditCapabilities,
    /// POS pre-load from CSV.
    Import,
    /// The Operation & Maintenance dashboard.
    ViewOps,
    /// Firmware Management.
    ManageFirmware,
    /// Close a FOTA session its handset will not finish (a lost download),
    /// freeing the device for a new update.
    CloseFotaSessions,
    /// Users and API tokens.
    ManageAccess,
    /// A staff user's own account (their password).
    OwnAccount,
    /// A subscriber's own line.
    SelfService,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Operator => "operator",
            Role::Firmware => "firmware",
            Role::Care => "care",
            Role::Subscriber => "subscriber",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Role::Admin => "Administrator",
            Role::Operator => "Operator",
            Role::Firmware => "Firmware manager",
            Role::Care => "Care agent",
            Role::Subscriber => "Subscriber",
        }
    }

    /// Roles that staff accounts and API tokens may hold.
    pub const STAFF: [Role; 4] = [Role::Admin, Role::Operator, Role::Firmware, Role::Care];

    /// The staff role forms offer first, the one that can do least: giving
    /// more must be a choice, never what an unchanged form sends.
    pub const LEAST_STAFF: Role = Role::Care;

    pub fn parse(s: &str) -> Option<Role> {
        match s.trim().to_ascii_lowercase().as_str() {
            "admin" => Some(Role::Admin),
            "operator" => Some(Role::Operator),
            "firmware" | "firmware-manager" | "firmware_manager" => Some(Role::Firmware),
            "care" | "care-agent" | "care_agent" => Some(Role::Care),
            "subscriber" => Some(Role::Subscriber),
            _ => None,
        }
    }

    pub fn parse_staff(s: &str) -> Option<Role> {
        Role::parse(s).filter(|r| *r != Role::Subscriber)
    }

    pub fn can(self, p: Permission) -> bool {
        use Permission::*;
        match self {
            Role::Admin => p != SelfService,
            Role::Operator => matches!(
                p,
                ViewRegistry
                    | EditDevices
                    | EditCapabilities
                    | Import
                    | ViewOps
                    | CloseFotaSessions
                    | OwnAccount
            ),
            Role::Firmware => matches!(
                p,
                ViewRegistry | EditCapabilities | ManageFirmware | CloseFotaSessions | OwnAccount
            ),
            Role::Care => matches!(p, ViewRegistry | EditProfiles | EditDevices | OwnAccount),
            Role::Subscriber => p == SelfService,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subscribers_only_reach_self_service() {
        assert!(Role::Subscriber.can(Permission::SelfService));
        assert!(!Role::Subscriber.can(Permission::ViewRegistry));
        assert!(!Role::Admin.can(Permission::SelfService));
        assert!(Role::Care.can(Permission::EditProfiles));
        assert!(!Role::Firmware.can(Permission::EditProfiles));
        assert!(!Role::Operator.can(Permission::ManageAccess));
        assert!(Role::Operator.can(Permission::CloseFotaSessions));
        assert!(Role::Firmware.can(Permission::CloseFotaSessions));
        assert!(!Role::Care.can(Permission::CloseFotaSessions));
        for r in Role::STAFF {
            assert!(r.can(Permission::OwnAccount), "{r:?}");
        }
        assert!(!Role::Subscriber.can(Permission::OwnAccount));
    }
}
