//! data_sm and submit_multi from a client, read as the submit_sm each destination stands for,
//! so an application handles one shape of MT; and the submit_multi_resp built from what
//! became of each destination. The session has already checked the bind may send them and
//! that the bodies decode.

use std::time::Duration;

use rusmpp::{
    pdus::{builders::SubmitSmBuilder, DataSm, SubmitMulti, SubmitMultiResp, SubmitSm},
    tlvs::{Tlv, TlvValue},
    types::{COctetString, EmptyOrFullCOctetString},
    values::{DestAddress, Npi, Ton, UnsuccessSme},
    CommandStatus, Pdu,
};

use crate::{bind::c_string, encoding::relative_time};

/// The most destinations one submit_multi may name (SMPP 3.4, 4.5.1).
pub const MAX_DESTINATIONS: usize = 254;

/// The submit_sm a data_sm stands for: same addresses, esm_class, registered_delivery,
/// data_coding and TLVs (the text in message_payload), an empty short_message; its
/// `qos_time_to_live` (seconds) as a relative validity_period.
pub fn submit_of_data_sm(data: &DataSm) -> SubmitSm {
    let time_to_live = data.tlvs().iter().find_map(|tlv| match tlv.value() {
        Some(TlvValue::QosTimeToLive(seconds)) => Some(*seconds),
        _ => None,
    });
    let validity = time_to_live
        .and_then(|seconds| {
            let field = relative_time(Duration::from_secs(u64::from(seconds)));
            EmptyOrFullCOctetString::from_string(field).ok()
        })
        .unwrap_or_else(EmptyOrFullCOctetString::empty);
    let submit = SubmitSm::builder()
        .validity_period(validity)
        .service_type(data.service_type.clone())
        .source_addr_ton(data.source_addr_ton)
        .source_addr_npi(data.source_addr_npi)
        .source_addr(data.source_addr.clone())
        .dest_addr_ton(data.dest_addr_ton)
        .dest_addr_npi(data.dest_addr_npi)
        .destination_addr(data.destination_addr.clone())
        .esm_class(data.esm_class)
        .registered_delivery(data.registered_delivery)
        .data_coding(data.data_coding);
    with_tlvs(submit, data.tlvs())
}

/// The submit_sm `builder` builds, with the client's TLVs as they came (the builder only
/// takes the submit_sm kinds of TLV).
fn with_tlvs(builder: SubmitSmBuilder, tlvs: &[Tlv]) -> SubmitSm {
    let mut parts = builder.build().into_parts();
    parts.tlvs = tlvs.to_vec();
    SubmitSm::from_parts(parts)
}

/// One destination of a submit_multi.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MultiDestination {
    /// An SME address (dest_flag 1): the submit_sm for it alone.
    Sme(Box<SubmitSm>),
    /// A distribution list (dest_flag 2), by name.
    DistributionList(String),
}

/// Whether a submit_multi names an acceptable number of destinations: 1 to
/// [`MAX_DESTINATIONS`], else ESME_RINVNUMDESTS.
pub fn check_number_of_dests(multi: &SubmitMulti) -> Result<(), CommandStatus> {
    let count = multi.dest_address().len();
    if count == 0 || count > MAX_DESTINATIONS || count != usize::from(multi.number_of_dests()) {
        return Err(CommandStatus::EsmeRinvnumdests);
    }
    Ok(())
}

/// The destinations of a submit_multi in the client's order, each SME address as the
/// submit_sm it stands for (the multi's fields and TLVs with that one destination).
pub fn destinations_of_submit_multi(multi: &SubmitMulti) -> Vec<MultiDestination> {
    multi
        .dest_address()
        .iter()
        .map(|destination| match destination {
            DestAddress::SmeAddress(sme) => {
                let submit = SubmitSm::builder()
                    .service_type(multi.service_type.clone())
                    .source_addr_ton(multi.source_addr_ton)
                    .source_addr_npi(multi.source_addr_npi)
                    .source_addr(multi.source_addr.clone())
                    .dest_addr_ton(sme.dest_addr_ton)
                    .dest_addr_npi(sme.dest_addr_npi)
                    .destination_addr(sme.destination_addr.clone())
                    .esm_class(multi.esm_class)
                    .protocol_id(multi.protocol_id)
                    .priority_flag(multi.priority_flag)
                    .schedule_delivery_time(multi.schedule_delivery_time.clone())
                    .validity_period(multi.validity_period.clone())
                    .registered_delivery(multi.registered_delivery)
                    .replace_if_present_flag(multi.replace_if_present_flag)
                    .data_coding(multi.data_coding)
                    .sm_default_msg_id(multi.sm_default_msg_id)
                    .short_message(multi.short_message().clone());
                MultiDestination::Sme(Box::new(with_tlvs(submit, multi.tlvs())))
            }
            DestAddress::DistributionListName(list) => {
                MultiDestination::DistributionList(list.dl_name.as_str().to_owned())
            }
        })
        .collect()
}

/// A destination of a submit_multi that was not accepted, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefusedDestination {
    pub ton: u8,
    pub npi: u8,
    /// The SME address, or the distribution list's name.
    pub address: String,
    pub status: CommandStatus,
}

impl RefusedDestination {
    /// The refusal of `destination` with `status`.
    pub fn of(destination: &MultiDestination, status: CommandStatus) -> Self {
        match destination {
            MultiDestination::Sme(submit) => Self {
                ton: u8::from(submit.dest_addr_ton),
                npi: u8::from(submit.dest_addr_npi),
                address: submit.destination_addr.as_str().to_owned(),
                status,
            },
            MultiDestination::DistributionList(name) => Self {
                ton: 0,
                npi: 0,
                address: name.clone(),
                status,
            },
        }
    }
}

/// What became of a submit_multi: the id of the first destination accepted (`None` when
/// none was) and every refused destination with its own status.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MultiOutcome {
    pub message_id: Option<String>,
    pub refused: Vec<RefusedDestination>,
}

impl MultiOutcome {
    /// The submit_multi_resp body: an empty message_id when no destination was accepted.
    /// An id or address too long for SMPP is a system error, never a panic.
    pub fn to_pdu(&self) -> Result<Pdu, CommandStatus> {
        let message_id = match &self.message_id {
            Some(id) => c_string(id).ok_or(CommandStatus::EsmeRsyserr)?,
            None => COctetString::empty(),
        };
        let unsuccess = self
            .refused
            .iter()
            .map(|refused| {
                let address = c_string(&refused.address).ok_or(CommandStatus::EsmeRsyserr)?;
                Ok(UnsuccessSme::new(
                    Ton::from(refused.ton),
                    Npi::from(refused.npi),
                    address,
                    refused.status,
                ))
            })
            .collect::<Result<Vec<_>, CommandStatus>>()?;
        if unsuccess.len() > MAX_DESTINATIONS {
            return Err(CommandStatus::EsmeRsyserr);
        }
        Ok(SubmitMultiResp::new(message_id, unsuccess, Vec::new()).into())
    }
}

#[cfg(test)]
mod tests {
    use bytes::BytesMut;
    use proptest::prelude::*;
    use rusmpp::{
        tlvs::{MessageSubmissionRequestTlvValue, TlvValue},
        values::{DistributionListName, MessagePayload, RegisteredDelivery, SmeAddress},
        Command,
    };

    use super::*;
    use crate::frame::{encode, FrameDecoder};

    fn sme(number: &str) -> DestAddress {
        DestAddress::SmeAddress(SmeAddress::new(
            Ton::International,
            Npi::Isdn,
            number.parse().unwrap(),
        ))
    }

    fn payload_of(submit: &SubmitSm) -> Option<Vec<u8>> {
        submit.tlvs().iter().find_map(|tlv| match tlv.value() {
            Some(TlvValue::MessagePayload(p)) => Some(p.value.to_vec()),
            _ => None,
        })
    }

    fn multi_to(destinations: Vec<DestAddress>) -> SubmitMulti {
        SubmitMulti::builder()
            .source_addr("447700900123".parse().unwrap())
            .dest_address(destinations)
            .registered_delivery(RegisteredDelivery::from(1))
            .short_message(b"hello".as_slice().try_into().unwrap())
            .build()
    }

    #[test]
    fn a_data_sm_stands_for_a_submit_sm_with_its_text_in_message_payload() {
        let data = DataSm::builder()
            .source_addr("447700900123".parse().unwrap())
            .destination_addr("447700900001".parse().unwrap())
            .registered_delivery(RegisteredDelivery::from(1))
            .push_tlv(MessageSubmissionRequestTlvValue::MessagePayload(
                MessagePayload::new(b"long text".to_vec().into()),
            ))
            .build();
        let submit = submit_of_data_sm(&data);
        assert_eq!(submit.source_addr.as_str(), "447700900123");
        assert_eq!(submit.destination_addr.as_str(), "447700900001");
        assert_eq!(u8::from(submit.registered_delivery), 1);
        assert!(submit.short_message().as_ref().is_empty());
        assert_eq!(
            payload_of(&submit).as_deref(),
            Some(b"long text".as_slice())
        );
        assert!(submit.validity_period.as_str().is_empty());
    }

    #[test]
    fn a_data_sm_time_to_live_is_its_validity_period() {
        let data = DataSm::builder()
            .destination_addr("447700900001".parse().unwrap())
            .push_tlv(MessageSubmissionRequestTlvValue::QosTimeToLive(90_061))
            .build();
        let submit = submit_of_data_sm(&data);
        // One day, one hour, one minute and one second.
        assert_eq!(submit.validity_period.as_str(), "000001010101000R");
    }

    #[test]
    fn each_sme_address_of_a_submit_multi_is_its_own_submit_sm_in_order() {
        let multi = multi_to(vec![
            sme("447700900001"),
            DestAddress::DistributionListName(DistributionListName::new(
                "friends".parse().unwrap(),
            )),
            sme("447700900002"),
        ]);
        let destinations = destinations_of_submit_multi(&multi);
        let MultiDestination::Sme(first) = &destinations[0] else {
            panic!("not an SME address: {destinations:?}");
        };
        assert_eq!(first.destination_addr.as_str(), "447700900001");
        assert_eq!(first.short_message().as_ref(), b"hello");
        assert_eq!(u8::from(first.registered_delivery), 1);
        assert_eq!(
            destinations[1],
            MultiDestination::DistributionList("friends".into())
        );
        let MultiDestination::Sme(last) = &destinations[2] else {
            panic!("not an SME address: {destinations:?}");
        };
        assert_eq!(last.destination_addr.as_str(), "447700900002");
    }

    #[test]
    fn a_submit_multi_names_one_to_254_destinations() {
        let count = |n: usize| check_number_of_dests(&multi_to(vec![sme("447700900001"); n]));
        assert_eq!(count(0), Err(CommandStatus::EsmeRinvnumdests));
        assert_eq!(count(1), Ok(()));
        assert_eq!(count(254), Ok(()));
        assert_eq!(count(255), Err(CommandStatus::EsmeRinvnumdests));
    }

    #[test]
    fn the_answer_lists_every_refused_destination_with_its_status() {
        let outcome = MultiOutcome {
            message_id: Some("gw-1".into()),
            refused: vec![
                RefusedDestination::of(
                    &MultiDestination::DistributionList("friends".into()),
                    CommandStatus::EsmeRinvdlname,
                ),
                RefusedDestination {
                    ton: 1,
                    npi: 1,
                    address: "12".into(),
                    status: CommandStatus::EsmeRinvdstadr,
                },
            ],
        };
        let Pdu::SubmitMultiResp(resp) = outcome.to_pdu().unwrap() else {
            panic!("not a submit_multi_resp");
        };
        assert_eq!(resp.message_id.as_str(), "gw-1");
        assert_eq!(resp.no_unsuccess(), 2);
        let listed: Vec<_> = resp
            .unsuccess_sme()
            .iter()
            .map(|u| (u.destination_addr.as_str(), u.error_status_code))
            .collect();
        assert_eq!(
            listed,
            [
                ("friends", CommandStatus::EsmeRinvdlname),
                ("12", CommandStatus::EsmeRinvdstadr)
            ]
        );
        let nothing = MultiOutcome::default().to_pdu().unwrap();
        let Pdu::SubmitMultiResp(resp) = nothing else {
            panic!("not a submit_multi_resp");
        };
        assert_eq!(
            resp.message_id.as_ref(),
            b"\0",
            "an empty id when none was accepted"
        );
    }

    #[test]
    fn an_address_too_long_for_smpp_is_a_system_error() {
        let outcome = MultiOutcome {
            message_id: None,
            refused: vec![RefusedDestination {
                ton: 1,
                npi: 1,
                address: "9".repeat(30),
                status: CommandStatus::EsmeRinvdstadr,
            }],
        };
        assert_eq!(outcome.to_pdu().unwrap_err(), CommandStatus::EsmeRsyserr);
    }

    /// A PDU of `command_id` with `body`, as the frame decoder reads it.
    fn decode(command_id: u32, body: &[u8]) -> Option<Command> {
        let mut buf = BytesMut::new();
        buf.extend_from_slice(&(16 + body.len() as u32).to_be_bytes());
        buf.extend_from_slice(&command_id.to_be_bytes());
        buf.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 1]);
        buf.extend_from_slice(body);
        FrameDecoder::default().decode(&mut buf).ok()??.ok()
    }

    proptest! {
        /// Any body decoded as a submit_multi gives one destination per address, a count check
        /// that agrees with it, and an answer that encodes; undecodable ones are the
        /// session's (generic_nack). Never a panic.
        #[test]
        fn any_submit_multi_body_is_read_without_panic(body in prop::collection::vec(any::<u8>(), 0..400)) {
            if let Some(command) = decode(0x21, &body) {
                let Some(Pdu::SubmitMulti(multi)) = command.pdu() else {
                    return Ok(());
                };
                let destinations = destinations_of_submit_multi(multi);
                prop_assert_eq!(destinations.len(), multi.dest_address().len());
                let counted = check_number_of_dests(multi).is_ok();
                prop_assert_eq!(counted, (1..=MAX_DESTINATIONS).contains(&destinations.len()));
                let outcome = MultiOutcome {
                    message_id: None,
                    refused: destinations
                        .iter()
                        .map(|d| RefusedDestination::of(d, CommandStatus::EsmeRinvdstadr))
                        .collect(),
                };
                let pdu = outcome.to_pdu().unwrap();
                encode(&Command::new(CommandStatus::EsmeRok, 1, pdu), &mut BytesMut::new());
            }
        }

        /// A structurally valid submit_multi to N numbers reads back as N submit_sm.
        #[test]
        fn a_submit_multi_round_trips_to_its_destinations(numbers in prop::collection::vec("[0-9]{1,20}", 1..20)) {
            let multi = multi_to(numbers.iter().map(|n| sme(n)).collect());
            let mut buf = BytesMut::new();
            encode(&Command::new(CommandStatus::EsmeRok, 1, Pdu::SubmitMulti(multi)), &mut buf);
            let command = FrameDecoder::default().decode(&mut buf).unwrap().unwrap().unwrap();
            let Some(Pdu::SubmitMulti(decoded)) = command.pdu() else {
                panic!("not a submit_multi");
            };
            let read: Vec<String> = destinations_of_submit_multi(decoded)
                .into_iter()
                .map(|d| match d {
                    MultiDestination::Sme(s) => s.destination_addr.as_str().to_owned(),
                    MultiDestination::DistributionList(name) => panic!("a list: {name}"),
                })
                .collect();
            prop_assert_eq!(read, numbers);
        }

        /// Any body decoded as a data_sm reads as a submit_sm without panic.
        #[test]
        fn any_data_sm_body_is_read_without_panic(body in prop::collection::vec(any::<u8>(), 0..200)) {
            if let Some(command) = decode(0x103, &body) {
                if let Some(Pdu::DataSm(data)) = command.pdu() {
                    let submit = submit_of_data_sm(data);
                    prop_assert_eq!(submit.tlvs().len(), data.tlvs().len());
                }
            }
        }
    }
}
