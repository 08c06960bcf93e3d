//! The OMA Download OTA 1.0 download descriptor (`application/vnd.oma.dd+xml`,
//! OMA-Download-OTA-V1_0 section 5): what a handset fetches before the
//! package, carrying its size, location, release notes and where to report
//! the install status.

/// The media type of firmware update packages delivered by FUMO/DLOTA.
pub const PACKAGE_TYPE: &str = "application/vnd.oma.firmware-update";
pub const DD_MEDIA_TYPE: &str = "application/vnd.oma.dd+xml";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Descriptor {
    pub name: String,
    pub vendor: String,
    pub size: u64,
    pub object_uri: String,
    pub install_notify_uri: String,
    pub description: String,
    pub media_type: String,
    /// Passed to the installer; we carry the target version (`version=...`).
    pub install_param: Option<String>,
}

fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c if (c as u32) < 0x20 && !matches!(c, '\n' | '\r' | '\t') => {}
            c => out.push(c),
        }
    }
    out
}

impl Descriptor {
    pub fn to_xml(&self) -> String {
        format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
             <media xmlns=\"http://www.openmobilealliance.org/xmlns/dd\">\n\
             \x20 <DDVersion>1.0</DDVersion>\n\
             \x20 <name>{}</name>\n\
             \x20 <vendor>{}</vendor>\n\
             \x20 <size>{}</size>\n\
             \x20 <type>{}</type>\n\
             \x20 <objectURI>{}</objectURI>\n\
             \x20 <installNotifyURI>{}</installNotifyURI>\n\
             \x20 <description>{}</description>\n\
             {}</media>\n",
            escape(&self.name),
            escape(&self.vendor),
            self.size,
            escape(&self.media_type),
            escape(&self.object_uri),
            escape(&self.install_notify_uri),
            escape(&self.description),
            self.install_param
                .as_deref()
                .map(|p| format!("  <installParam>{}</installParam>\n", escape(p)))
                .unwrap_or_default(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn descriptor_has_the_mandatory_elements_and_escapes_text() {
        let dd = Descriptor {
            name: "SCH-U960 U960.05 -> U960.07".into(),
            vendor: "Samsung".into(),
            size: 123456,
            object_uri: "http://fota.example.net/dl/7/package".into(),
            install_notify_uri: "http://fota.example.net/dl/7/notify".into(),
            description: "Fixes <911> call & SMS".into(),
            media_type: PACKAGE_TYPE.into(),
            install_param: Some("version=U960.07".into()),
        };
        let xml = dd.to_xml();
        assert!(xml.contains("<installParam>version=U960.07</installParam>"));
        assert!(xml.contains("<media xmlns=\"http://www.openmobilealliance.org/xmlns/dd\">"));
        assert!(xml.contains("<size>123456</size>"));
        assert!(xml.contains("<objectURI>http://fota.example.net/dl/7/package</objectURI>"));
        assert!(xml
            .contains("<installNotifyURI>http://fota.example.net/dl/7/notify</installNotifyURI>"));
        assert!(xml.contains("Fixes &lt;911&gt; call &amp; SMS"));
        assert!(xml.contains("-&gt; U960.07"));
    }
}
