//! UPnP device descriptions: what a renderer says it is and where its services answer.

use std::io::Read;
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};

/// The largest description read.
const MAX_DESCRIPTION: u64 = 256 * 1024;

/// One UPnP service of a device: where to send control requests and subscribe to events.
#[derive(Debug, Clone, PartialEq)]
pub struct Service {
    /// As the device names it, e.g. `urn:schemas-upnp-org:service:AVTransport:1`.
    pub service_type: String,
    pub control_url: String,
    pub event_url: Option<String>,
}

/// A media renderer as its description tells.
#[derive(Debug, Clone, PartialEq)]
pub struct Device {
    pub udn: String,
    pub friendly_name: String,
    pub manufacturer: String,
    pub model_name: String,
    pub av_transport: Option<Service>,
    pub rendering_control: Option<Service>,
    pub connection_manager: Option<Service>,
}

/// An HTTP client for devices on the LAN: short timeouts everywhere, as they may hang.
pub fn agent() -> ureq::Agent {
    ureq::AgentBuilder::new()
        .timeout_connect(Duration::from_secs(2))
        .timeout(Duration::from_secs(5))
        .redirects(0)
        // Devices close kept-alive connections without warning (libupnp does), and a SOAP
        // POST on a dead one is lost: a new connection each time.
        .max_idle_connections(0)
        .build()
}

/// Fetches and reads the description at `location`.
pub fn fetch_description(location: &str) -> Result<Device> {
    let response = agent().get(location).call().map_err(|e| anyhow!("{e}"))?;
    let mut body = String::new();
    response
        .into_reader()
        .take(MAX_DESCRIPTION + 1)
        .read_to_string(&mut body)
        .context("the description is not UTF-8 text")?;
    if body.len() as u64 > MAX_DESCRIPTION {
        bail!("the description is over {} KB", MAX_DESCRIPTION / 1024);
    }
    parse_description(&body, location)
}

/// Reads a description fetched from `location` (relative URLs are resolved against it, or
/// against its `URLBase`).
pub fn parse_description(xml: &str, location: &str) -> Result<Device> {
    let doc = roxmltree::Document::parse(xml).context("the description is not valid XML")?;
    let root = doc.root_element();
    fn child<'a, 'i>(node: roxmltree::Node<'a, 'i>, name: &str) -> Option<roxmltree::Node<'a, 'i>> {
        node.children()
            .find(|c| c.is_element() && c.tag_name().name() == name)
    }
    fn text(node: roxmltree::Node, name: &str) -> String {
        child(node, name)
            .and_then(|c| c.text())
            .map(|t| t.trim().to_string())
            .unwrap_or_default()
    }
    let base = child(root, "URLBase")
        .and_then(|b| b.text())
        .map(str::trim)
        .filter(|b| b.starts_with("http://"))
        .unwrap_or(location)
        .to_string();
    // The renderer may be the root device or one nested in it.
    let devices: Vec<roxmltree::Node> = root
        .descendants()
        .filter(|n| n.is_element() && n.tag_name().name() == "device")
        .collect();
    let device = devices
        .iter()
        .find(|d| text(**d, "deviceType").contains(":MediaRenderer:"))
        .or(devices.first())
        .copied()
        .ok_or_else(|| anyhow!("the description has no device"))?;
    let service = |kind: &str| -> Option<Service> {
        let list = child(device, "serviceList")?;
        let s = list.children().find(|s| {
            s.is_element() && text(*s, "serviceType").contains(&format!(":service:{kind}:"))
        })?;
        let control = text(s, "controlURL");
        if control.is_empty() {
            return None;
        }
        let event = text(s, "eventSubURL");
        Some(Service {
            service_type: text(s, "serviceType"),
            control_url: resolve(&base, &control)?,
            event_url: (!event.is_empty())
                .then(|| resolve(&base, &event))
                .flatten(),
        })
    };
    let udn = text(device, "UDN");
    if udn.is_empty() {
        bail!("the description names no UDN");
    }
    Ok(Device {
        udn,
        friendly_name: text(device, "friendlyName"),
        manufacturer: text(device, "manufacturer"),
        model_name: text(device, "modelName"),
        av_transport: service("AVTransport"),
        rendering_control: service("RenderingControl"),
        connection_manager: service("ConnectionManager"),
    })
}

/// The largest SOAP answer read.
const MAX_ANSWER: u64 = 64 * 1024;

pub use crate::xml::escape;

/// Calls a UPnP action: a SOAP request to the service; its output arguments by name. A device
/// that refuses answers an error with its UPnP error code and description.
pub fn action(
    agent: &ureq::Agent,
    service: &Service,
    name: &str,
    args: &[(&str, &str)],
) -> Result<std::collections::HashMap<String, String>> {
    let urn = &service.service_type;
    let mut body = format!(
        r#"<?xml version="1.0" encoding="utf-8"?><s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/" s:encodingStyle="http://schemas.xmlsoap.org/soap/encoding/"><s:Body><u:{name} xmlns:u="{urn}">"#
    );
    for (k, v) in args {
        body.push_str(&format!("<{k}>{}</{k}>", escape(v)));
    }
    body.push_str(&format!("</u:{name}></s:Body></s:Envelope>"));
    let response = agent
        .post(&service.control_url)
        .set("Content-Type", "text/xml; charset=\"utf-8\"")
        .set("SOAPACTION", &format!("\"{urn}#{name}\""))
        .send_string(&body);
    let (ok, response) = match response {
        Ok(r) => (true, r),
        Err(ureq::Error::Status(_, r)) => (false, r),
        Err(e) => bail!("{name}: {e}"),
    };
    let mut text = String::new();
    response
        .into_reader()
        .take(MAX_ANSWER)
        .read_to_string(&mut text)
        .with_context(|| format!("{name}: the answer is not text"))?;
    let doc = roxmltree::Document::parse(&text)
        .with_context(|| format!("{name}: the answer is not XML"))?;
    let find = |tag: &str| {
        doc.descendants()
            .find(|n| n.is_element() && n.tag_name().name() == tag)
    };
    if !ok {
        let code = find("errorCode").and_then(|n| n.text()).unwrap_or("?");
        let why = find("errorDescription")
            .and_then(|n| n.text())
            .unwrap_or("");
        bail!("the device refused {name}: UPnP error {code} {why}");
    }
    let answer = find(&format!("{name}Response"))
        .ok_or_else(|| anyhow!("{name}: no {name}Response in the answer"))?;
    Ok(answer
        .children()
        .filter(|c| c.is_element())
        .map(|c| {
            (
                c.tag_name().name().to_string(),
                c.text().unwrap_or("").to_string(),
            )
        })
        .collect())
}

/// `url` made absolute against `base`; only http URLs on the base's host are kept (a
/// description cannot send control requests elsewhere).
fn resolve(base: &str, url: &str) -> Option<String> {
    let origin = {
        let rest = base.strip_prefix("http://")?;
        let host = rest.split('/').next()?;
        format!("http://{host}")
    };
    let absolute = if url.starts_with("http://") {
        url.to_string()
    } else if url.starts_with('/') {
        format!("{origin}{url}")
    } else {
        let dir = base.rsplit_once('/').map_or(base, |(d, _)| d);
        let dir = if dir.len() < origin.len() {
            &origin
        } else {
            dir
        };
        format!("{dir}/{url}")
    };
    (absolute == origin || absolute.starts_with(&format!("{origin}/"))).then_some(absolute)
}

#[cfg(test)]
mod tests {
    use super::*;

    const DESCRIPTION: &str = r#"<?xml version="1.0"?>
<root xmlns="urn:schemas-upnp-org:device-1-0">
  <specVersion><major>1</major><minor>0</minor></specVersion>
  <device>
    <deviceType>urn:schemas-upnp-org:device:MediaRenderer:1</deviceType>
    <friendlyName>Kitchen</friendlyName>
    <manufacturer>Acme</manufacturer>
    <modelName>Box 2</modelName>
    <UDN>uuid:abc-1</UDN>
    <serviceList>
      <service>
        <serviceType>urn:schemas-upnp-org:service:AVTransport:1</serviceType>
        <controlURL>/upnp/control/rendertransport1</controlURL>
        <eventSubURL>upnp/event/rendertransport1</eventSubURL>
      </service>
      <service>
        <serviceType>urn:schemas-upnp-org:service:RenderingControl:1</serviceType>
        <controlURL>http://10.0.0.9/evil</controlURL>
      </service>
    </serviceList>
  </device>
</root>"#;

    #[test]
    fn descriptions_give_names_and_service_urls_on_the_same_host() {
        let d = parse_description(DESCRIPTION, "http://10.0.0.7:49494/description.xml").unwrap();
        assert_eq!(d.udn, "uuid:abc-1");
        assert_eq!(
            (
                d.friendly_name.as_str(),
                d.manufacturer.as_str(),
                d.model_name.as_str()
            ),
            ("Kitchen", "Acme", "Box 2")
        );
        let av = d.av_transport.unwrap();
        assert_eq!(
            av.control_url,
            "http://10.0.0.7:49494/upnp/control/rendertransport1"
        );
        assert_eq!(
            av.event_url.as_deref(),
            Some("http://10.0.0.7:49494/upnp/event/rendertransport1")
        );
        // A service on another host is not used.
        assert_eq!(d.rendering_control, None);
    }

    #[test]
    fn service_urls_cannot_leave_the_renderers_host() {
        let base = "http://10.0.0.7:49494/dev/description.xml";
        for bad in [
            "http://10.0.0.7:49494@evil.example/x",
            "http://10.0.0.7:4949/x",
            "http://10.0.0.70:49494/x",
            "http://10.0.0.7:49494.evil.example/x",
            "http://127.0.0.1:4545/api/server",
        ] {
            assert_eq!(resolve(base, bad), None, "{bad}");
        }
        for (good, want) in [
            ("/c", "http://10.0.0.7:49494/c"),
            ("c", "http://10.0.0.7:49494/dev/c"),
            ("http://10.0.0.7:49494/c", "http://10.0.0.7:49494/c"),
            // Another scheme is only a strange path on the renderer itself.
            (
                "file:///etc/passwd",
                "http://10.0.0.7:49494/dev/file:///etc/passwd",
            ),
        ] {
            assert_eq!(resolve(base, good).as_deref(), Some(want), "{good}");
        }
    }

    #[test]
    fn broken_descriptions_are_errors() {
        assert!(parse_description("<root><device>", "http://10.0.0.7/").is_err());
        assert!(parse_description("<root/>", "http://10.0.0.7/").is_err());
        assert!(parse_description("not xml at all", "http://10.0.0.7/").is_err());
    }
}
