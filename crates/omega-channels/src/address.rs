//! Normalization of provider address spellings into [`Address`].
//!
//! WhatsApp names one person `5511…@c.us` (WPPConnect), `5511…@s.whatsapp.net`
//! (Baileys/Evolution, possibly with a `:<device>` suffix) or bare `5511…` (Cloud API
//! `wa_id`): all become `Address::Phone("+5511…")`. A `<digits>@lid` carries no phone and
//! stays [`Address::WhatsAppLid`]; parsers put it in `sender_alt` next to the phone when the
//! provider tells both. Every function returns an error for garbage and never panics.

use crate::error::AddressError;
use crate::model::Address;

/// Fewest digits of an E.164 number accepted (short national plans exist; 8 is safe).
pub const PHONE_MIN_DIGITS: usize = 8;
/// Most digits of an E.164 number (ITU-T E.164 §6.2.1).
pub const PHONE_MAX_DIGITS: usize = 15;
/// Most digits of a LID (they are about 15 today; leave room).
const LID_MAX_DIGITS: usize = 20;
/// Most characters of a group, broadcast or newsletter id part.
const ID_MAX_CHARS: usize = 64;

/// A phone number from bare digits (Cloud API `wa_id`, the user part of a JID): 8–15 ASCII
/// digits, not starting with 0, written E.164 with a leading `+`.
///
/// ```
/// use omega_channels::{Address, address::phone_from_digits};
/// assert_eq!(phone_from_digits("16505551234")?, Address::Phone("+16505551234".into()));
/// assert!(phone_from_digits("+16505551234").is_err());
/// # Ok::<(), omega_channels::AddressError>(())
/// ```
pub fn phone_from_digits(digits: &str) -> Result<Address, AddressError> {
    let what = "phone number";
    check_digits(what, digits, PHONE_MIN_DIGITS, PHONE_MAX_DIGITS)?;
    if digits.starts_with('0') {
        return Err(AddressError::LeadingZero);
    }
    Ok(Address::Phone(format!("+{digits}")))
}

/// A WhatsApp JID as WPPConnect, Evolution (Baileys) or WhatsApp Web spell it.
///
/// - `5511…@c.us`, `5511…@s.whatsapp.net`, `5511…:12@s.whatsapp.net` → [`Address::Phone`]
/// - `…@lid` (device suffix dropped) → [`Address::WhatsAppLid`]
/// - `120363…@g.us`, `<creator>-<ts>@g.us` → [`Address::WhatsAppGroup`]
/// - `status@broadcast`, `<id>@broadcast` → [`Address::Broadcast`]
/// - `120363…@newsletter` → [`Address::Newsletter`]
///
/// The server part is matched case-insensitively and written lowercase.
///
/// ```
/// use omega_channels::address::from_whatsapp_jid;
/// let a = from_whatsapp_jid("5511999990001@c.us")?;
/// let b = from_whatsapp_jid("5511999990001:12@s.whatsapp.net")?;
/// assert_eq!(a, b);
/// assert_eq!(a.key(), "tel:+5511999990001");
/// assert!(from_whatsapp_jid("120363000000000001@g.us")?.is_group());
/// # Ok::<(), omega_channels::AddressError>(())
/// ```
pub fn from_whatsapp_jid(jid: &str) -> Result<Address, AddressError> {
    if jid.is_empty() {
        return Err(AddressError::Empty {
            what: "whatsapp jid",
        });
    }
    let Some((user, server)) = jid.split_once('@') else {
        return Err(AddressError::MissingServer);
    };
    let server = server.to_ascii_lowercase();
    match server.as_str() {
        "c.us" | "s.whatsapp.net" => phone_from_digits(strip_device(user)),
        "lid" => {
            let digits = strip_device(user);
            check_digits("whatsapp lid", digits, 1, LID_MAX_DIGITS)?;
            Ok(Address::WhatsAppLid(digits.to_owned()))
        }
        "g.us" => {
            check_group_id(user)?;
            Ok(Address::WhatsAppGroup(format!("{user}@g.us")))
        }
        "broadcast" => {
            check_id("whatsapp broadcast", user, |c| c.is_ascii_alphanumeric())?;
            Ok(Address::Broadcast(format!("{user}@broadcast")))
        }
        "newsletter" => {
            check_id("whatsapp newsletter", user, |c| c.is_ascii_digit())?;
            Ok(Address::Newsletter(format!("{user}@newsletter")))
        }
        _ => Err(AddressError::UnknownServer {
            got: server.chars().take(32).collect(),
        }),
    }
}

/// A Telegram user (a `from.id`, or the id of a private chat): a positive id.
pub fn telegram_user(id: i64) -> Result<Address, AddressError> {
    if id <= 0 {
        return Err(AddressError::TelegramId {
            what: "telegram user id",
            expected: "a positive id",
            got: id,
        });
    }
    Ok(Address::TelegramUser(id))
}

/// A Telegram chat: a private chat is the user it is with ([`Address::TelegramUser`], so
/// the chat and its sender are one contact); groups, supergroups and channels (negative
/// ids, `-100…` for supergroups and channels) are [`Address::TelegramChat`].
pub fn telegram_chat(id: i64, is_private: bool) -> Result<Address, AddressError> {
    if is_private {
        return telegram_user(id);
    }
    if id == 0 {
        return Err(AddressError::TelegramId {
            what: "telegram chat id",
            expected: "a non-zero id",
            got: id,
        });
    }
    Ok(Address::TelegramChat(id))
}

/// Drops the `:<device>` and `_<agent>` suffixes of a JID user part (`5511…_1:12`).
fn strip_device(user: &str) -> &str {
    let user = user.split_once(':').map_or(user, |(head, _)| head);
    user.split_once('_').map_or(user, |(head, _)| head)
}

fn check_digits(
    what: &'static str,
    text: &str,
    min: usize,
    max: usize,
) -> Result<(), AddressError> {
    if text.is_empty() {
        return Err(AddressError::Empty { what });
    }
    if !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(AddressError::NotDigits { what });
    }
    if !(min..=max).contains(&text.len()) {
        return Err(AddressError::Length {
            what,
            min,
            max,
            got: text.len(),
        });
    }
    Ok(())
}

fn check_id(what: &'static str, text: &str, allowed: fn(char) -> bool) -> Result<(), AddressError> {
    if text.is_empty() {
        return Err(AddressError::Empty { what });
    }
    if text.len() > ID_MAX_CHARS || !text.chars().all(allowed) {
        return Err(AddressError::Malformed {
            what,
            expected: "a short ascii id",
        });
    }
    Ok(())
}

/// `120363…` or the older `<creator phone>-<unix seconds>`.
fn check_group_id(user: &str) -> Result<(), AddressError> {
    let what = "whatsapp group";
    if user.is_empty() {
        return Err(AddressError::Empty { what });
    }
    let digits_run = |part: &str| !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit());
    let well_formed = match user.split_once('-') {
        Some((creator, created_at)) => digits_run(creator) && digits_run(created_at),
        None => digits_run(user),
    };
    if !well_formed || user.len() > ID_MAX_CHARS {
        return Err(AddressError::Malformed {
            what,
            expected: "digits or <digits>-<digits>",
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jid_forms() {
        let phone = Address::Phone("+5511999990001".into());
        assert_eq!(from_whatsapp_jid("5511999990001@c.us"), Ok(phone.clone()));
        assert_eq!(
            from_whatsapp_jid("5511999990001@s.whatsapp.net"),
            Ok(phone.clone())
        );
        assert_eq!(
            from_whatsapp_jid("5511999990001:12@s.whatsapp.net"),
            Ok(phone.clone())
        );
        assert_eq!(from_whatsapp_jid("5511999990001@S.WhatsApp.Net"), Ok(phone));
        assert_eq!(
            from_whatsapp_jid("100000000000001@lid"),
            Ok(Address::WhatsAppLid("100000000000001".into()))
        );
        assert_eq!(
            from_whatsapp_jid("100000000000001:3@lid"),
            Ok(Address::WhatsAppLid("100000000000001".into()))
        );
        assert_eq!(
            from_whatsapp_jid("5511999990001-1500000000@g.us"),
            Ok(Address::WhatsAppGroup(
                "5511999990001-1500000000@g.us".into()
            ))
        );
        let status = from_whatsapp_jid("status@broadcast");
        assert!(status.is_ok_and(|a| a.is_broadcast()));
        let channel = from_whatsapp_jid("120363000000000009@newsletter");
        assert!(channel.is_ok_and(|a| a.is_broadcast() && !a.is_group()));
    }

    #[test]
    fn garbage_is_an_error() {
        for bad in [
            "",
            "@c.us",
            "abc@c.us",
            "5511999990001",
            "5511999990001@example.com",
            "1234567@c.us",
            "0123456789@c.us",
            "1234567890123456789012345678901234567890@c.us",
            "٥٥١١٩٩٩٩٩٠٠٠١@c.us",
            "-@g.us",
            "12-@g.us",
            "@broadcast",
            "a b@broadcast",
            "x@lid",
        ] {
            assert!(from_whatsapp_jid(bad).is_err(), "{bad:?}");
        }
        assert!(phone_from_digits("").is_err());
        assert!(phone_from_digits("1234567890123456").is_err());
        assert!(telegram_user(0).is_err());
        assert!(telegram_user(-5).is_err());
        assert!(telegram_chat(0, false).is_err());
        assert_eq!(telegram_chat(-100, false), Ok(Address::TelegramChat(-100)));
        assert_eq!(telegram_chat(7, true), Ok(Address::TelegramUser(7)));
    }

    #[test]
    fn errors_do_not_echo_the_number() {
        let message = phone_from_digits("12345678901234567890").map_err(|e| e.to_string());
        assert_eq!(
            message,
            Err("phone number: expected 8 to 15 digits, got 20".into())
        );
    }
}
