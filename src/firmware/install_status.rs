//! OMA Download OTA 1.0 install-notify status codes (OMA-Download-OTA-V1_0,
//! section 6.3): the first line of the device's POST to installNotifyURI.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InstallStatus {
    pub code: u16,
    pub text: &'static str,
}

pub const CODES: &[(u16, &str)] = &[
    (900, "Success"),
    (901, "Insufficient memory"),
    (902, "User Cancelled"),
    (903, "Loss of Service"),
    (905, "Attribute mismatch"),
    (906, "Invalid descriptor"),
    (951, "Invalid DDVersion"),
    (952, "Device Aborted"),
    (953, "Non-Acceptable Content"),
    (954, "Loader Error"),
];

impl InstallStatus {
    pub fn is_success(self) -> bool {
        self.code == 900
    }
}

/// Parses a notification body such as `900 Success`: a known code, then
/// optional text, which devices word freely.
pub fn parse(body: &str) -> Result<InstallStatus, String> {
    let first = body.lines().next().unwrap_or("").trim();
    let code_text = first.split_whitespace().next().unwrap_or("");
    let code: u16 = code_text
        .parse()
        .map_err(|_| format!("\"{first}\" does not start with a 9xx status code"))?;
    CODES
        .iter()
        .find(|(c, _)| *c == code)
        .map(|(c, t)| InstallStatus { code: *c, text: t })
        .ok_or_else(|| format!("{code} is not an OMA download status code (900-954)"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_status_codes_of_the_standard() {
        assert_eq!(parse("900 Success\r\n").unwrap().code, 900);
        assert!(parse("900 Success").unwrap().is_success());
        assert_eq!(parse("954 Loader Error").unwrap().text, "Loader Error");
        assert_eq!(parse("902").unwrap().text, "User Cancelled");
        assert!(parse("904 Whatever").is_err());
        assert!(parse("ok").is_err());
        assert!(parse("").is_err());
    }
}
