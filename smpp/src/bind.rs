//! Bind types: the three bind kinds and a bind request in plain Rust types.
//!
//! rusmpp models the three bind PDUs as three structs; the session and the application only care
//! about "which kind" and "which credentials", so they are folded into one [`BindRequest`].

use rusmpp::{
    pdus::{
        BindReceiver, BindReceiverResp, BindTransceiver, BindTransceiverResp, BindTransmitter,
        BindTransmitterResp,
    },
    types::COctetString,
    values::{InterfaceVersion, Npi, Ton},
    CommandId, Pdu,
};

/// How an ESME is bound: what it may send and receive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BindKind {
    Transmitter,
    Receiver,
    Transceiver,
}

impl BindKind {
    /// Whether the ESME may submit messages (submit_sm, data_sm, ...) on this bind.
    pub fn can_transmit(self) -> bool {
        matches!(self, BindKind::Transmitter | BindKind::Transceiver)
    }

    /// Whether the SMSC may deliver messages (deliver_sm, data_sm) on this bind.
    pub fn can_receive(self) -> bool {
        matches!(self, BindKind::Receiver | BindKind::Transceiver)
    }

    /// The bind kind a bind request command id asks for.
    pub fn of_request(id: CommandId) -> Option<Self> {
        match id {
            CommandId::BindTransmitter => Some(BindKind::Transmitter),
            CommandId::BindReceiver => Some(BindKind::Receiver),
            CommandId::BindTransceiver => Some(BindKind::Transceiver),
            _ => None,
        }
    }

    /// The bind kind a successful bind response confirms.
    pub fn of_response(id: CommandId) -> Option<Self> {
        Self::of_request(id.matching_request())
    }

    /// The bind_*_resp body the SMSC answers with.
    pub fn response_pdu(self, smsc_system_id: &str) -> Pdu {
        let system_id = c_string(smsc_system_id).unwrap_or_default();
        let version = Some(InterfaceVersion::Smpp3_4);
        match self {
            BindKind::Transmitter => BindTransmitterResp::new(system_id, version).into(),
            BindKind::Receiver => BindReceiverResp::new(system_id, version).into(),
            BindKind::Transceiver => BindTransceiverResp::new(system_id, version).into(),
        }
    }

    /// Short lower-case name for logs and metrics labels.
    pub fn as_str(self) -> &'static str {
        match self {
            BindKind::Transmitter => "transmitter",
            BindKind::Receiver => "receiver",
            BindKind::Transceiver => "transceiver",
        }
    }
}

/// A bind request's fields, whichever of the three bind PDUs carried it. `{:?}` masks the
/// password.
#[derive(Clone, PartialEq, Eq)]
pub struct BindRequest {
    pub kind: BindKind,
    pub system_id: String,
    pub password: String,
    pub system_type: String,
    pub interface_version: u8,
    pub addr_ton: u8,
    pub addr_npi: u8,
    pub address_range: String,
}

impl std::fmt::Debug for BindRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BindRequest")
            .field("kind", &self.kind)
            .field("system_id", &self.system_id)
            .field("password", &"***")
            .field("system_type", &self.system_type)
            .field("interface_version", &self.interface_version)
            .field("addr_ton", &self.addr_ton)
            .field("addr_npi", &self.addr_npi)
            .field("address_range", &self.address_range)
            .finish()
    }
}

/// A bind field that does not fit its SMPP size limit.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("bind field {field} must be ASCII and at most {max} characters")]
pub struct BindFieldError {
    pub field: &'static str,
    pub max: usize,
}

impl BindRequest {
    /// A transceiver/transmitter/receiver bind with just credentials.
    pub fn new(kind: BindKind, system_id: &str, password: &str) -> Self {
        Self {
            kind,
            system_id: system_id.to_owned(),
            password: password.to_owned(),
            system_type: String::new(),
            interface_version: 0x34,
            addr_ton: 0,
            addr_npi: 0,
            address_range: String::new(),
        }
    }

    /// Reads a bind request out of a bind PDU; `None` for any other PDU.
    pub fn from_pdu(pdu: &Pdu) -> Option<Self> {
        macro_rules! fields {
            ($kind:expr, $b:expr) => {
                Some(Self {
                    kind: $kind,
                    system_id: $b.system_id.as_str().to_owned(),
                    password: $b.password.as_str().to_owned(),
                    system_type: $b.system_type.as_str().to_owned(),
                    interface_version: $b.interface_version.into(),
                    addr_ton: $b.addr_ton.into(),
                    addr_npi: $b.addr_npi.into(),
                    address_range: $b.address_range.as_str().to_owned(),
                })
            };
        }
        match pdu {
            Pdu::BindTransmitter(b) => fields!(BindKind::Transmitter, b),
            Pdu::BindReceiver(b) => fields!(BindKind::Receiver, b),
            Pdu::BindTransceiver(b) => fields!(BindKind::Transceiver, b),
            _ => None,
        }
    }

    /// The bind PDU for this request, checking every field against its SMPP size.
    pub fn to_pdu(&self) -> Result<Pdu, BindFieldError> {
        let system_id = field("system_id", &self.system_id)?;
        let password = field("password", &self.password)?;
        let system_type = field("system_type", &self.system_type)?;
        let address_range = field("address_range", &self.address_range)?;
        let version = InterfaceVersion::from(self.interface_version);
        let ton = Ton::from(self.addr_ton);
        let npi = Npi::from(self.addr_npi);
        Ok(match self.kind {
            BindKind::Transmitter => BindTransmitter::new(
                system_id,
                password,
                system_type,
                version,
                ton,
                npi,
                address_range,
            )
            .into(),
            BindKind::Receiver => BindReceiver::new(
                system_id,
                password,
                system_type,
                version,
                ton,
                npi,
                address_range,
            )
            .into(),
            BindKind::Transceiver => BindTransceiver::new(
                system_id,
                password,
                system_type,
                version,
                ton,
                npi,
                address_range,
            )
            .into(),
        })
    }
}

fn field<const MAX: usize>(
    name: &'static str,
    value: &str,
) -> Result<COctetString<1, MAX>, BindFieldError> {
    c_string(value).ok_or(BindFieldError {
        field: name,
        max: MAX - 1,
    })
}

/// A C-octet string of at most `MAX - 1` ASCII characters plus the NUL; `None` if it does
/// not fit or is not ASCII.
pub fn c_string<const MAX: usize>(value: &str) -> Option<COctetString<1, MAX>> {
    let mut bytes = Vec::with_capacity(value.len() + 1);
    bytes.extend_from_slice(value.as_bytes());
    bytes.push(0);
    COctetString::from_vec(bytes).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bind_request_round_trips_through_each_pdu() {
        for kind in [
            BindKind::Transmitter,
            BindKind::Receiver,
            BindKind::Transceiver,
        ] {
            let mut request = BindRequest::new(kind, "demo", "demo1234");
            request.system_type = "VMA".into();
            request.address_range = "^4470".into();
            let pdu = request.to_pdu().unwrap();
            assert_eq!(BindKind::of_request(pdu.command_id()), Some(kind));
            assert_eq!(BindRequest::from_pdu(&pdu).unwrap(), request);
        }
    }

    #[test]
    fn debug_output_masks_the_password() {
        let bind = BindRequest::new(BindKind::Receiver, "acme", "s3cr3t!");
        let debug = format!("{bind:?}");
        assert!(!debug.contains("s3cr3t!"), "{debug}");
        assert!(debug.contains("acme"), "{debug}");
    }

    #[test]
    fn oversized_password_is_a_clear_error() {
        let request = BindRequest::new(BindKind::Transceiver, "demo", "123456789");
        let err = request.to_pdu().unwrap_err();
        assert_eq!((err.field, err.max), ("password", 8));
    }

    #[test]
    fn response_kinds_map_back_to_bind_kinds() {
        let pdu = BindKind::Receiver.response_pdu("smsgw");
        assert_eq!(
            BindKind::of_response(pdu.command_id()),
            Some(BindKind::Receiver)
        );
        assert!(BindKind::Transceiver.can_receive() && BindKind::Transceiver.can_transmit());
        assert!(!BindKind::Receiver.can_transmit() && !BindKind::Transmitter.can_receive());
    }
}
