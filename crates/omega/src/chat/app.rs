//! The state of `omega chat` and what keys and news from the node do to it. Pure: no IO, no clock,
//! no terminal. The run loop performs the [`Action`]s that [`App::handle_key`] and [`App::apply`]
//! return and feeds what came of them back as [`Update`]s.

use std::cell::Cell;

use omega_core::{ContactView, MessageView, NodeEvent};
use omega_store::Status;
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};

/// The state of the live event stream from the node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Connection {
    /// Not connected yet.
    Connecting,
    /// Events arrive as they happen.
    Live,
    /// The stream is down; it is being retried.
    Offline { reason: String },
}

/// Something the run loop must do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// `POST /v1/messages` (a group: `POST /v1/groups/{to}/messages`); answered by
    /// [`Update::Sent`] or [`Update::SendFailed`].
    Send {
        to: String,
        text: String,
        group: bool,
    },
    /// `POST /v1/conversations/{with}/read` (the messages are already shown read).
    MarkRead { with: String },
    /// Fetch contacts and every conversation again; answered by [`Update::Contacts`] and one
    /// [`Update::History`] per contact.
    Reload,
    /// Leave.
    Quit,
}

/// News for the app: answers to [`Action`]s and events from the node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Update {
    /// Our own display name.
    Me { name: String },
    /// Every contact.
    Contacts(Vec<ContactView>),
    /// Every group I am a member of: (group id, name).
    Groups(Vec<(String, String)>),
    /// The latest messages with one contact, oldest first (replaces what was shown).
    History {
        user_id: String,
        messages: Vec<MessageView>,
    },
    /// An event from the node's stream.
    Node(NodeEvent),
    /// The node queued a message we sent.
    Sent(MessageView),
    /// The node refused a message we sent; its text goes back into the composer.
    SendFailed { text: String, error: String },
    /// The event stream connected or dropped.
    Connection(Connection),
    /// A request failed; shown in the status bar.
    Error(String),
}

/// One conversation: a contact and the messages exchanged with them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Conversation {
    /// The contact's user id, or the group's id.
    pub user_id: String,
    pub alias: Option<String>,
    pub name: String,
    pub verified: bool,
    /// A group conversation (messages show their authors; no read receipts).
    pub group: bool,
    /// Oldest first.
    pub messages: Vec<MessageView>,
}

impl Conversation {
    fn new(user_id: String) -> Self {
        Conversation {
            user_id,
            alias: None,
            name: String::new(),
            verified: false,
            group: false,
            messages: Vec::new(),
        }
    }

    /// Alias, else name, else the start of the user id. Unsanitized: the renderer cleans it.
    pub fn title(&self) -> String {
        match (&self.alias, self.name.trim()) {
            (Some(alias), _) => alias.clone(),
            (None, "") => self.user_id.chars().take(12).collect(),
            (None, name) => name.to_owned(),
        }
    }

    /// Incoming messages not read yet.
    pub fn unread(&self) -> usize {
        self.messages
            .iter()
            .filter(|message| message.direction == "in" && message.status != "read")
            .count()
    }

    pub fn last(&self) -> Option<&MessageView> {
        self.messages.last()
    }

    fn matches(&self, name: &str) -> bool {
        self.user_id == name || self.alias.as_deref() == Some(name) || self.name == name
    }

    /// Adds a message, or moves a known one's status forward (never back).
    fn upsert(&mut self, message: MessageView) {
        match self
            .messages
            .iter_mut()
            .find(|known| known.message_id == message.message_id)
        {
            Some(known) => advance(known, &message.status),
            None => self.messages.push(message),
        }
    }
}

/// Moves a message's status to `status` if that is further along.
fn advance(message: &mut MessageView, status: &str) {
    let rank = |text: &str| Status::parse(text).map_or(-1, Status::rank);
    if rank(status) > rank(&message.status) {
        message.status = status.to_owned();
    }
}

/// The conversation of a message: the group's id, else the other party's user id.
fn peer_of(message: &MessageView) -> &str {
    if let Some(group) = &message.group {
        group
    } else if message.direction == "in" {
        &message.from
    } else {
        &message.to
    }
}

/// Everything `omega chat` shows.
#[derive(Debug)]
pub struct App {
    me: String,
    /// Most recent activity first.
    conversations: Vec<Conversation>,
    /// User id of the open conversation.
    selected: Option<String>,
    /// The conversation asked for with `--with`, until the contacts are known.
    wanted: Option<String>,
    composer: String,
    /// In characters.
    cursor: usize,
    /// Lines scrolled up from the newest message.
    scroll: usize,
    connection: Connection,
    notice: Option<String>,
    /// Lines the message pane showed last time, and how far it could scroll (set while drawing).
    page: Cell<usize>,
    max_scroll: Cell<usize>,
}

impl App {
    /// An empty app; `with` (alias, name or user id) is opened once the contacts arrive.
    pub fn new(with: Option<String>) -> Self {
        App {
            me: String::new(),
            conversations: Vec::new(),
            selected: None,
            wanted: with,
            composer: String::new(),
            cursor: 0,
            scroll: 0,
            connection: Connection::Connecting,
            notice: None,
            page: Cell::new(10),
            max_scroll: Cell::new(usize::MAX),
        }
    }

    pub fn me(&self) -> &str {
        &self.me
    }

    pub fn conversations(&self) -> &[Conversation] {
        &self.conversations
    }

    pub fn selected_index(&self) -> Option<usize> {
        let selected = self.selected.as_deref()?;
        self.conversations
            .iter()
            .position(|conversation| conversation.user_id == selected)
    }

    pub fn selected(&self) -> Option<&Conversation> {
        self.selected_index()
            .map(|index| &self.conversations[index])
    }

    pub fn composer(&self) -> &str {
        &self.composer
    }

    /// Cursor position in the composer, in characters.
    pub fn cursor(&self) -> usize {
        self.cursor
    }

    pub fn scroll(&self) -> usize {
        self.scroll
    }

    pub fn connection(&self) -> &Connection {
        &self.connection
    }

    pub fn notice(&self) -> Option<&str> {
        self.notice.as_deref()
    }

    /// Called by the renderer: the message pane's height and how far it can scroll now.
    pub fn set_viewport(&self, page: usize, max_scroll: usize) {
        self.page.set(page.max(1));
        self.max_scroll.set(max_scroll);
    }

    /// What a key press does. Typing goes to the composer; keys that act are listed in the status
    /// bar.
    #[must_use]
    pub fn handle_key(&mut self, key: KeyEvent) -> Vec<Action> {
        if key.kind == KeyEventKind::Release {
            return Vec::new();
        }
        let control = key.modifiers.contains(KeyModifiers::CONTROL);
        match key.code {
            KeyCode::Esc => return vec![Action::Quit],
            KeyCode::Char('c' | 'd') if control => return vec![Action::Quit],
            KeyCode::Char('u') if control => {
                self.composer.clear();
                self.cursor = 0;
            }
            KeyCode::Enter => return self.send(),
            KeyCode::Tab => return self.select_by(1, true),
            KeyCode::BackTab => return self.select_by(-1, true),
            KeyCode::Down => return self.select_by(1, false),
            KeyCode::Up => return self.select_by(-1, false),
            KeyCode::PageUp => {
                self.scroll = (self.scroll + self.page.get()).min(self.max_scroll.get());
            }
            KeyCode::PageDown => self.scroll = self.scroll.saturating_sub(self.page.get()),
            KeyCode::Left => self.cursor = self.cursor.saturating_sub(1),
            KeyCode::Right => self.cursor = (self.cursor + 1).min(self.composer.chars().count()),
            KeyCode::Home => self.cursor = 0,
            KeyCode::End => self.cursor = self.composer.chars().count(),
            KeyCode::Backspace if self.cursor > 0 => {
                self.cursor -= 1;
                self.composer.remove(self.byte_at(self.cursor));
            }
            KeyCode::Delete if self.cursor < self.composer.chars().count() => {
                self.composer.remove(self.byte_at(self.cursor));
            }
            KeyCode::Char(ch) if !control && !key.modifiers.contains(KeyModifiers::ALT) => {
                self.insert(ch);
            }
            _ => {}
        }
        Vec::new()
    }

    /// Pasted text goes into the composer as one line (line breaks and tabs become spaces).
    pub fn paste(&mut self, text: &str) {
        for ch in text.chars() {
            self.insert(if matches!(ch, '\n' | '\t') { ' ' } else { ch });
        }
    }

    fn insert(&mut self, ch: char) {
        if ch.is_control() {
            return;
        }
        let at = self.byte_at(self.cursor);
        self.composer.insert(at, ch);
        self.cursor += 1;
    }

    /// What news does to the state, and what must be done because of it.
    #[must_use]
    pub fn apply(&mut self, update: Update) -> Vec<Action> {
        match update {
            Update::Me { name } => {
                self.me = name;
                Vec::new()
            }
            Update::Contacts(contacts) => self.set_contacts(contacts),
            Update::Groups(groups) => {
                for (group_id, name) in groups {
                    let index = self.conversation_for(&group_id);
                    self.conversations[index].name = name;
                    self.conversations[index].group = true;
                }
                self.sort();
                if self.selected_index().is_none() && !self.conversations.is_empty() {
                    return self.select(0);
                }
                Vec::new()
            }
            Update::History { user_id, messages } => {
                let index = self.conversation_for(&user_id);
                self.conversations[index].messages = messages;
                self.sort();
                self.open_selected()
            }
            // A group was created, joined or changed: its name and membership come with a reload.
            Update::Node(NodeEvent::Group { .. }) => vec![Action::Reload],
            Update::Node(NodeEvent::Message { message }) | Update::Sent(message) => {
                self.add_message(message)
            }
            Update::Node(NodeEvent::Status {
                message_id, status, ..
            }) => {
                if let Some(message) = self
                    .conversations
                    .iter_mut()
                    .flat_map(|conversation| conversation.messages.iter_mut())
                    .find(|message| message.message_id == message_id)
                {
                    advance(message, &status);
                }
                Vec::new()
            }
            Update::Node(NodeEvent::Updated { message }) => {
                if let Some(slot) = self
                    .conversations
                    .iter_mut()
                    .flat_map(|conversation| conversation.messages.iter_mut())
                    .find(|slot| slot.message_id == message.message_id)
                {
                    *slot = message;
                }
                Vec::new()
            }
            Update::Node(NodeEvent::Erased { message_ids }) => {
                for conversation in &mut self.conversations {
                    conversation
                        .messages
                        .retain(|message| !message_ids.contains(&message.message_id));
                }
                Vec::new()
            }
            Update::SendFailed { text, error } => {
                if self.composer.is_empty() {
                    self.cursor = text.chars().count();
                    self.composer = text;
                }
                self.notice = Some(format!("not sent: {error}"));
                Vec::new()
            }
            Update::Connection(connection) => {
                // Events may have been missed while the stream was down: fetch everything again.
                let reload = connection == Connection::Live && self.connection != Connection::Live;
                self.connection = connection;
                if reload {
                    vec![Action::Reload]
                } else {
                    Vec::new()
                }
            }
            Update::Error(error) => {
                self.notice = Some(error);
                Vec::new()
            }
        }
    }

    fn byte_at(&self, chars: usize) -> usize {
        self.composer
            .char_indices()
            .nth(chars)
            .map_or(self.composer.len(), |(at, _)| at)
    }

    fn send(&mut self) -> Vec<Action> {
        if self.composer.trim().is_empty() {
            return Vec::new();
        }
        let Some(to) = self.selected.clone() else {
            self.notice = Some("no conversation to send to (add a contact first)".to_owned());
            return Vec::new();
        };
        let group = self
            .selected_index()
            .is_some_and(|index| self.conversations[index].group);
        self.notice = None;
        self.scroll = 0;
        self.cursor = 0;
        vec![Action::Send {
            to,
            text: std::mem::take(&mut self.composer),
            group,
        }]
    }

    /// Moves the selection by `step`, wrapping around the ends when `wrap` is set.
    fn select_by(&mut self, step: isize, wrap: bool) -> Vec<Action> {
        let count = self.conversations.len();
        if count == 0 {
            return Vec::new();
        }
        let next = match self.selected_index() {
            None => 0,
            Some(current) if wrap => (current as isize + step).rem_euclid(count as isize) as usize,
            Some(current) => (current as isize + step).clamp(0, count as isize - 1) as usize,
        };
        self.select(next)
    }

    fn select(&mut self, index: usize) -> Vec<Action> {
        let user_id = self.conversations[index].user_id.clone();
        if self.selected.as_deref() != Some(&user_id) {
            self.selected = Some(user_id);
            self.scroll = 0;
        }
        self.open_selected()
    }

    /// Opening a conversation reads it: its incoming messages are shown read and the node is told.
    fn open_selected(&mut self) -> Vec<Action> {
        let Some(index) = self.selected_index() else {
            return Vec::new();
        };
        let conversation = &mut self.conversations[index];
        if conversation.unread() == 0 {
            return Vec::new();
        }
        for message in &mut conversation.messages {
            if message.direction == "in" {
                advance(message, "read");
            }
        }
        // Groups have no read receipts: reading one is local.
        if conversation.group {
            return Vec::new();
        }
        vec![Action::MarkRead {
            with: conversation.user_id.clone(),
        }]
    }

    fn set_contacts(&mut self, contacts: Vec<ContactView>) -> Vec<Action> {
        for contact in contacts {
            let index = self.conversation_for(&contact.user_id);
            let conversation = &mut self.conversations[index];
            conversation.alias = contact.alias;
            conversation.name = contact.name;
            conversation.verified = contact.verified;
        }
        self.sort();
        if let Some(wanted) = self.wanted.take() {
            match self.conversations.iter().position(|c| c.matches(&wanted)) {
                Some(index) => return self.select(index),
                None => self.notice = Some(format!("no contact named {wanted}")),
            }
        }
        if self.selected_index().is_none() && !self.conversations.is_empty() {
            return self.select(0);
        }
        Vec::new()
    }

    fn add_message(&mut self, message: MessageView) -> Vec<Action> {
        let user_id = peer_of(&message).to_owned();
        let known = self.conversations.iter().any(|c| c.user_id == user_id);
        let index = self.conversation_for(&user_id);
        let group = message.group.is_some();
        if !known && !group {
            self.conversations[index].name = message.peer.clone().unwrap_or_default();
        }
        self.conversations[index].group |= group;
        self.conversations[index].upsert(message);
        self.sort();
        let mut actions = Vec::new();
        if !known {
            // A stranger's first message made them a contact: learn their name.
            actions.push(Action::Reload);
        }
        if self.selected.is_none() {
            actions.extend(self.select(0));
        } else {
            actions.extend(self.open_selected());
        }
        actions
    }

    /// The index of the conversation with `user_id`, created empty if new.
    fn conversation_for(&mut self, user_id: &str) -> usize {
        match self
            .conversations
            .iter()
            .position(|conversation| conversation.user_id == user_id)
        {
            Some(index) => index,
            None => {
                self.conversations
                    .push(Conversation::new(user_id.to_owned()));
                self.conversations.len() - 1
            }
        }
    }

    /// Most recent activity first; conversations without messages after, by title.
    fn sort(&mut self) {
        self.conversations.sort_by(|a, b| {
            let last = |c: &Conversation| c.last().map(|message| message.timestamp);
            last(b)
                .cmp(&last(a))
                .then_with(|| a.title().to_lowercase().cmp(&b.title().to_lowercase()))
        });
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn contact(alias: &str, user_id: &str) -> ContactView {
        ContactView {
            user_id: user_id.to_owned(),
            alias: Some(alias.to_owned()),
            name: alias.to_uppercase(),
            verified: false,
            devices: 1,
            addrs: Vec::new(),
            safety_number: String::new(),
        }
    }

    pub(crate) fn message(id: &str, peer: &str, direction: &str, text: &str) -> MessageView {
        let (from, to) = if direction == "in" {
            (peer, "me")
        } else {
            ("me", peer)
        };
        MessageView {
            message_id: id.to_owned(),
            from: from.to_owned(),
            to: to.to_owned(),
            text: text.to_owned(),
            status: if direction == "in" {
                "delivered"
            } else {
                "queued"
            }
            .to_owned(),
            timestamp: 1_700_000_000_000,
            direction: direction.to_owned(),
            peer: None,
            ..MessageView::default()
        }
    }

    pub(crate) fn key(code: KeyCode) -> KeyEvent {
        KeyEvent::new(code, KeyModifiers::NONE)
    }

    pub(crate) fn type_text(app: &mut App, text: &str) {
        for ch in text.chars() {
            assert!(app.handle_key(key(KeyCode::Char(ch))).is_empty());
        }
    }

    fn two_contacts() -> App {
        let mut app = App::new(None);
        let _ = app.apply(Update::Contacts(vec![
            contact("bob", "U-BOB"),
            contact("carol", "U-CAROL"),
        ]));
        app
    }

    #[test]
    fn a_group_is_a_conversation_whose_messages_land_in_it_and_whose_reading_stays_local() {
        let mut app = two_contacts();
        let _ = app.apply(Update::Groups(vec![("G-1".into(), "Churrasco".into())]));
        let mut incoming = message("m1", "U-BOB", "in", "eu levo a picanha");
        incoming.group = Some("G-1".into());
        incoming.to = "G-1".into();
        incoming.peer = Some("bob".into());
        let _ = app.apply(Update::Node(NodeEvent::Message { message: incoming }));
        let group = app
            .conversations()
            .iter()
            .find(|c| c.user_id == "G-1")
            .expect("the group's conversation");
        assert!(group.group);
        assert_eq!(group.title(), "Churrasco");
        assert_eq!(group.messages.len(), 1);
        assert!(
            app.conversations()
                .iter()
                .find(|c| c.user_id == "U-BOB")
                .expect("bob")
                .messages
                .is_empty(),
            "a group message is not a 1:1 message"
        );
        // Open the group (it is the most recent): no read receipt is asked for.
        let index = app
            .conversations()
            .iter()
            .position(|c| c.user_id == "G-1")
            .unwrap();
        let actions = app.select(index);
        assert!(!actions.iter().any(|a| matches!(a, Action::MarkRead { .. })));
        type_text(&mut app, "e eu o carvão");
        assert_eq!(
            app.handle_key(key(KeyCode::Enter)),
            [Action::Send {
                to: "G-1".into(),
                text: "e eu o carvão".into(),
                group: true,
            }]
        );
    }

    #[test]
    fn enter_sends_the_composer_to_the_open_conversation_and_clears_it() {
        let mut app = two_contacts();
        assert_eq!(app.selected().unwrap().user_id, "U-BOB");
        type_text(&mut app, "hi bob");
        assert_eq!(app.composer(), "hi bob");
        let actions = app.handle_key(key(KeyCode::Enter));
        assert_eq!(
            actions,
            [Action::Send {
                to: "U-BOB".into(),
                text: "hi bob".into(),
                group: false,
            }]
        );
        assert_eq!(app.composer(), "");
        assert!(
            app.handle_key(key(KeyCode::Enter)).is_empty(),
            "nothing to send"
        );
    }

    #[test]
    fn a_refused_message_goes_back_into_the_composer() {
        let mut app = two_contacts();
        let _ = app.apply(Update::SendFailed {
            text: "lost?".into(),
            error: "node down".into(),
        });
        assert_eq!(app.composer(), "lost?");
        assert_eq!(app.notice(), Some("not sent: node down"));
    }

    #[test]
    fn editing_keys_move_the_cursor_and_delete_characters() {
        let mut app = two_contacts();
        type_text(&mut app, "héllo");
        let _ = app.handle_key(key(KeyCode::Left));
        let _ = app.handle_key(key(KeyCode::Backspace));
        assert_eq!(app.composer(), "hélo");
        let _ = app.handle_key(key(KeyCode::Home));
        let _ = app.handle_key(key(KeyCode::Delete));
        assert_eq!(app.composer(), "élo");
        let _ = app.handle_key(key(KeyCode::End));
        type_text(&mut app, "!");
        assert_eq!(app.composer(), "élo!");
        let _ = app.handle_key(KeyEvent::new(KeyCode::Char('u'), KeyModifiers::CONTROL));
        assert_eq!(app.composer(), "");
    }

    #[test]
    fn paste_inserts_one_line_without_control_characters() {
        let mut app = two_contacts();
        type_text(&mut app, "<>");
        let _ = app.handle_key(key(KeyCode::Left));
        app.paste("two\r\nlines\u{1b}[2J\tend");
        assert_eq!(app.composer(), "<two lines[2J end>");
        assert_eq!(app.cursor(), "<two lines[2J end".chars().count());
    }

    #[test]
    fn esc_and_ctrl_c_quit() {
        let mut app = two_contacts();
        assert_eq!(app.handle_key(key(KeyCode::Esc)), [Action::Quit]);
        assert_eq!(
            app.handle_key(KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL)),
            [Action::Quit]
        );
    }

    #[test]
    fn tab_and_arrows_move_between_conversations_and_opening_one_marks_it_read() {
        let mut app = two_contacts();
        let _ = app.apply(Update::History {
            user_id: "U-CAROL".into(),
            messages: vec![message("m1", "U-CAROL", "in", "hey")],
        });
        // Carol has the most recent activity now, so she is first; Bob stays open.
        assert_eq!(app.conversations()[0].user_id, "U-CAROL");
        assert_eq!(app.selected().unwrap().user_id, "U-BOB");
        assert_eq!(app.conversations()[0].unread(), 1);
        assert_eq!(
            app.handle_key(key(KeyCode::Up)),
            [Action::MarkRead {
                with: "U-CAROL".into()
            }]
        );
        assert_eq!(app.conversations()[0].unread(), 0);
        assert!(
            app.handle_key(key(KeyCode::Up)).is_empty(),
            "stops at the top"
        );
        assert!(app.handle_key(key(KeyCode::Tab)).is_empty());
        assert_eq!(app.selected().unwrap().user_id, "U-BOB");
        let _ = app.handle_key(key(KeyCode::Tab));
        assert_eq!(
            app.selected().unwrap().user_id,
            "U-CAROL",
            "tab wraps around"
        );
        let _ = app.handle_key(key(KeyCode::BackTab));
        assert_eq!(app.selected().unwrap().user_id, "U-BOB");
    }

    #[test]
    fn with_opens_the_named_conversation() {
        let mut app = App::new(Some("carol".into()));
        let _ = app.apply(Update::Contacts(vec![
            contact("bob", "U-BOB"),
            contact("carol", "U-CAROL"),
        ]));
        assert_eq!(app.selected().unwrap().user_id, "U-CAROL");
        let mut app = App::new(Some("nobody".into()));
        let _ = app.apply(Update::Contacts(vec![contact("bob", "U-BOB")]));
        assert_eq!(app.notice(), Some("no contact named nobody"));
    }

    #[test]
    fn incoming_message_in_the_open_conversation_is_read_at_once_elsewhere_counts_unread() {
        let mut app = two_contacts();
        let actions = app.apply(Update::Node(NodeEvent::Message {
            message: message("m1", "U-BOB", "in", "open"),
        }));
        assert_eq!(
            actions,
            [Action::MarkRead {
                with: "U-BOB".into()
            }]
        );
        let actions = app.apply(Update::Node(NodeEvent::Message {
            message: message("m2", "U-CAROL", "in", "elsewhere"),
        }));
        assert!(actions.is_empty());
        let carol = app
            .conversations()
            .iter()
            .find(|c| c.user_id == "U-CAROL")
            .unwrap();
        assert_eq!(carol.unread(), 1);
    }

    #[test]
    fn statuses_only_move_forward_and_duplicates_are_merged() {
        let mut app = two_contacts();
        let sent = message("m1", "U-BOB", "out", "hello");
        let _ = app.apply(Update::Sent(sent.clone()));
        let status = |app: &mut App, status: &str| {
            let _ = app.apply(Update::Node(NodeEvent::Status {
                message_id: "m1".into(),
                peer: "bob".into(),
                status: status.into(),
            }));
        };
        status(&mut app, "delivered");
        status(&mut app, "sent");
        // The stream also reports our own message; it arrives after the status moved on.
        let _ = app.apply(Update::Node(NodeEvent::Message { message: sent }));
        let bob = app.selected().unwrap();
        assert_eq!(bob.messages.len(), 1);
        assert_eq!(bob.messages[0].status, "delivered");
        status(&mut app, "read");
        assert_eq!(app.selected().unwrap().messages[0].status, "read");
    }

    #[test]
    fn a_strangers_first_message_opens_a_conversation_and_asks_for_their_contact() {
        let mut app = App::new(None);
        let mut first = message("m1", "U-NEW", "in", "hello?");
        first.peer = Some("Dana".into());
        let actions = app.apply(Update::Node(NodeEvent::Message { message: first }));
        assert!(actions.contains(&Action::Reload), "{actions:?}");
        assert_eq!(app.selected().unwrap().title(), "Dana");
    }

    #[test]
    fn the_stream_coming_back_reloads_everything() {
        let mut app = two_contacts();
        assert_eq!(
            app.apply(Update::Connection(Connection::Live)),
            [Action::Reload]
        );
        assert!(app.apply(Update::Connection(Connection::Live)).is_empty());
        let _ = app.apply(Update::Connection(Connection::Offline {
            reason: "gone".into(),
        }));
        assert_eq!(
            app.apply(Update::Connection(Connection::Live)),
            [Action::Reload]
        );
    }

    #[test]
    fn page_keys_scroll_within_what_the_pane_can_show() {
        let mut app = two_contacts();
        app.set_viewport(5, 12);
        let _ = app.handle_key(key(KeyCode::PageUp));
        assert_eq!(app.scroll(), 5);
        let _ = app.handle_key(key(KeyCode::PageUp));
        let _ = app.handle_key(key(KeyCode::PageUp));
        assert_eq!(app.scroll(), 12);
        let _ = app.handle_key(key(KeyCode::PageDown));
        assert_eq!(app.scroll(), 7);
        let _ = app.handle_key(key(KeyCode::Tab));
        assert_eq!(app.scroll(), 0, "another conversation starts at the bottom");
    }
}
