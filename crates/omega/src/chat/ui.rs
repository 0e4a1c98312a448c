//! Drawing `omega chat`: conversation list, messages, composer, status bar. Everything that came
//! from elsewhere (names, message text) goes through [`text::sanitize`] before it reaches a cell.

use omega_core::MessageView;
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Position, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, HighlightSpacing, List, ListItem, ListState, Paragraph};

use super::app::{App, Connection, Conversation};
use super::text::{date_and_time, sanitize, truncate, width, wrap};

const HELP: &str = "Enter send · Tab/↑↓ switch · PgUp/PgDn scroll · Esc quit";

/// Draws the whole screen.
pub fn draw(frame: &mut Frame<'_>, app: &App) {
    let [main, composer, status] = Layout::vertical([
        Constraint::Min(3),
        Constraint::Length(3),
        Constraint::Length(1),
    ])
    .areas(frame.area());
    let list_width = (main.width / 3).clamp(14, 32).min(main.width);
    let [list, messages] =
        Layout::horizontal([Constraint::Length(list_width), Constraint::Min(0)]).areas(main);
    draw_list(frame, app, list);
    draw_messages(frame, app, messages);
    draw_composer(frame, app, composer);
    draw_status(frame, app, status);
}

fn draw_list(frame: &mut Frame<'_>, app: &App, area: Rect) {
    let block = Block::bordered().title(" Conversations ");
    // One column goes to the selection mark.
    let inner = usize::from(block.inner(area).width).saturating_sub(1);
    let items: Vec<ListItem<'_>> = app
        .conversations()
        .iter()
        .map(|conversation| conversation_item(conversation, inner))
        .collect();
    if items.is_empty() {
        let hint = Paragraph::new(vec![
            Line::styled("no contacts yet", Style::new().add_modifier(Modifier::DIM)),
            Line::styled(
                "omega contact add",
                Style::new().add_modifier(Modifier::DIM),
            ),
        ])
        .block(block);
        frame.render_widget(hint, area);
        return;
    }
    let list = List::new(items)
        .block(block)
        .highlight_style(
            Style::new()
                .bg(Color::DarkGray)
                .add_modifier(Modifier::BOLD),
        )
        .highlight_symbol("▌")
        .highlight_spacing(HighlightSpacing::Always);
    let mut state = ListState::default().with_selected(app.selected_index());
    frame.render_stateful_widget(list, area, &mut state);
}

/// Two lines: the title with the unread count on the right, then a preview of the last message.
fn conversation_item(conversation: &Conversation, columns: usize) -> ListItem<'static> {
    let unread = conversation.unread();
    let badge = if unread > 0 {
        format!(" {unread} ")
    } else {
        String::new()
    };
    let title = truncate(
        &sanitize(&conversation.title(), false),
        columns.saturating_sub(width(&badge)),
    );
    let pad = columns.saturating_sub(width(&title) + width(&badge));
    let first = Line::from(vec![
        Span::raw(title),
        Span::raw(" ".repeat(pad)),
        Span::styled(
            badge,
            Style::new().fg(Color::Yellow).add_modifier(Modifier::BOLD),
        ),
    ]);
    let preview = match conversation.last() {
        Some(message) if message.direction == "out" => format!("you: {}", shown_text(message)),
        Some(message) => shown_text(message),
        None => "no messages".to_owned(),
    };
    let preview = truncate(&sanitize(&preview, false), columns.saturating_sub(1));
    let second = Line::styled(
        format!(" {preview}"),
        Style::new().add_modifier(Modifier::DIM),
    );
    ListItem::new(vec![first, second])
}

fn draw_messages(frame: &mut Frame<'_>, app: &App, area: Rect) {
    let Some(conversation) = app.selected() else {
        frame.render_widget(Block::bordered(), area);
        app.set_viewport(1, 0);
        return;
    };
    let title = sanitize(&conversation.title(), false);
    let trust = if conversation.verified {
        "verified"
    } else {
        "not verified"
    };
    let mut block = Block::bordered().title(Line::from(vec![
        Span::styled(
            format!(" {title} "),
            Style::new().add_modifier(Modifier::BOLD),
        ),
        Span::styled(
            format!("({trust}) "),
            Style::new().add_modifier(Modifier::DIM),
        ),
    ]));
    let inner = block.inner(area);
    let columns = usize::from(inner.width);
    let rows = usize::from(inner.height);
    let lines = if conversation.messages.is_empty() {
        vec![Line::styled(
            "no messages yet — say hello",
            Style::new().add_modifier(Modifier::DIM),
        )]
    } else {
        message_lines(&conversation.messages, &title, columns)
    };
    let max_scroll = lines.len().saturating_sub(rows);
    app.set_viewport(rows, max_scroll);
    let scroll = app.scroll().min(max_scroll);
    let end = lines.len() - scroll;
    let start = end.saturating_sub(rows);
    if scroll > 0 {
        block = block.title_bottom(format!(" ↓ {scroll} more "));
    }
    let visible: Vec<Line<'static>> = lines.into_iter().take(end).skip(start).collect();
    frame.render_widget(Paragraph::new(visible).block(block), area);
}

/// Every message as wrapped lines: `HH:MM sender  text`, continuation lines indented, a date
/// line where the day changes, ticks after my messages.
/// A message's text as the chat shows it: a tombstone for a deleted one; a quote mark, an
/// "(edited)" note and the reactions (counted per emoji) around the text.
pub(crate) fn shown_text(message: &MessageView) -> String {
    if message.deleted {
        return "⊘ message deleted".to_owned();
    }
    let mut text = String::new();
    if message.reply_to.is_some() {
        text.push_str("↪ ");
    }
    text.push_str(&message.text);
    if message.edited_at.is_some() {
        text.push_str(" (edited)");
    }
    if !message.reactions.is_empty() {
        let mut counted: Vec<(&str, usize)> = Vec::new();
        for reaction in &message.reactions {
            match counted
                .iter_mut()
                .find(|(emoji, _)| *emoji == reaction.emoji)
            {
                Some((_, count)) => *count += 1,
                None => counted.push((&reaction.emoji, 1)),
            }
        }
        let list: Vec<String> = counted
            .iter()
            .map(|(emoji, count)| format!("{emoji} {count}"))
            .collect();
        text.push_str(&format!("  [{}]", list.join(" ")));
    }
    text
}

fn message_lines(messages: &[MessageView], peer: &str, columns: usize) -> Vec<Line<'static>> {
    let me = "you";
    let sender_width = width(me).max(width(peer)).min(10);
    let indent = 6 + sender_width + 1;
    // Narrow panes put the text under its header instead of beside it.
    let beside = columns >= indent + 12;
    let mut lines = Vec::new();
    let mut day = String::new();
    for message in messages {
        let (date, time) = date_and_time(message.timestamp);
        if date != day {
            let label = format!(" {date} ");
            let side = columns.saturating_sub(width(&label)) / 2;
            lines.push(Line::styled(
                format!("{}{label}{}", "─".repeat(side), "─".repeat(side)),
                Style::new().add_modifier(Modifier::DIM),
            ));
            day = date;
        }
        let outgoing = message.direction == "out";
        let (sender, sender_style) = if outgoing {
            (me.to_owned(), Style::new().fg(Color::Green))
        } else if message.group.is_some() {
            // In a group, each incoming message names its author.
            let author = message
                .peer
                .clone()
                .unwrap_or_else(|| message.from.chars().take(8).collect());
            (
                truncate(&author, sender_width),
                Style::new().fg(Color::Cyan),
            )
        } else {
            (truncate(peer, sender_width), Style::new().fg(Color::Cyan))
        };
        let tick = if outgoing {
            ticks(&message.status)
        } else {
            None
        };
        let body_columns = if beside {
            columns - indent
        } else {
            columns.saturating_sub(2)
        };
        // Room for the ticks after the last line.
        let reserve = if tick.is_some() { 3 } else { 0 };
        let body = wrap(
            &sanitize(&shown_text(message), true),
            body_columns.saturating_sub(reserve).max(1),
        );
        let header = vec![
            Span::styled(time, Style::new().add_modifier(Modifier::DIM)),
            Span::raw(" "),
            Span::styled(
                format!("{sender:<sender_width$}"),
                sender_style.add_modifier(Modifier::BOLD),
            ),
            Span::raw(" "),
        ];
        let count = body.len();
        let with_tick = |mut spans: Vec<Span<'static>>, index: usize| {
            if index + 1 == count
                && let Some((symbol, style)) = tick
            {
                spans.push(Span::raw(" "));
                spans.push(Span::styled(symbol, style));
            }
            Line::from(spans)
        };
        if !beside {
            lines.push(Line::from(header.clone()));
        }
        for (index, part) in body.into_iter().enumerate() {
            let mut spans = match (beside, index) {
                (true, 0) => header.clone(),
                (true, _) => vec![Span::raw(" ".repeat(indent))],
                (false, _) => vec![Span::raw("  ")],
            };
            spans.push(Span::raw(part));
            lines.push(with_tick(spans, index));
        }
    }
    lines
}

/// The tick for my message's status: queued ◷, sent ✓, delivered ✓✓, read ✓✓ (highlighted),
/// failed !.
pub fn ticks(status: &str) -> Option<(&'static str, Style)> {
    let plain = Style::new();
    Some(match status {
        "queued" => ("◷", plain.add_modifier(Modifier::DIM)),
        "sent" => ("✓", plain),
        "delivered" => ("✓✓", plain),
        "read" => (
            "✓✓",
            plain.fg(Color::LightCyan).add_modifier(Modifier::BOLD),
        ),
        "failed" => ("!", plain.fg(Color::Red).add_modifier(Modifier::BOLD)),
        _ => return None,
    })
}

fn draw_composer(frame: &mut Frame<'_>, app: &App, area: Rect) {
    let title = match app.selected() {
        Some(conversation) => format!(
            " message to {} ",
            truncate(&sanitize(&conversation.title(), false), 24)
        ),
        None => " no conversation ".to_owned(),
    };
    let block = Block::bordered().title(title);
    let inner = block.inner(area);
    let columns = usize::from(inner.width);
    // Scroll the line sideways so the cursor stays in view.
    let before: Vec<char> = app.composer().chars().take(app.cursor()).collect();
    let mut skip = 0;
    while skip < before.len() && width(&before[skip..].iter().collect::<String>()) >= columns.max(1)
    {
        skip += 1;
    }
    let shown: String = app.composer().chars().skip(skip).collect();
    let cursor_x = width(&before[skip..].iter().collect::<String>());
    // A paragraph clips what does not fit.
    frame.render_widget(Paragraph::new(shown).block(block), area);
    if inner.width > 0 && inner.height > 0 {
        frame.set_cursor_position(Position::new(
            inner.x + cursor_x.min(columns.saturating_sub(1)) as u16,
            inner.y,
        ));
    }
}

fn draw_status(frame: &mut Frame<'_>, app: &App, area: Rect) {
    let (connection, style) = match app.connection() {
        Connection::Connecting => ("◌ connecting".to_owned(), Style::new().fg(Color::Yellow)),
        Connection::Live => ("● live".to_owned(), Style::new().fg(Color::Green)),
        Connection::Offline { reason } => (
            format!("○ offline ({})", sanitize(reason, false)),
            Style::new().fg(Color::Red),
        ),
    };
    let me = sanitize(app.me(), false);
    let (tail, tail_style) = match app.notice() {
        Some(notice) => (sanitize(notice, false), Style::new().fg(Color::Red)),
        None => (HELP.to_owned(), Style::new().add_modifier(Modifier::DIM)),
    };
    let columns = usize::from(area.width);
    let head = format!(" {me} · ");
    let used = width(&head) + width(&connection) + 3;
    let line = Line::from(vec![
        Span::styled(head, Style::new().add_modifier(Modifier::BOLD)),
        Span::styled(connection, style),
        Span::raw(" · "),
        Span::styled(truncate(&tail, columns.saturating_sub(used)), tail_style),
    ]);
    frame.render_widget(Paragraph::new(line), area);
}

#[cfg(test)]
pub(crate) mod tests {
    use omega_core::NodeEvent;
    use ratatui::Terminal;
    use ratatui::backend::TestBackend;
    use ratatui::buffer::Buffer;
    use ratatui::crossterm::event::KeyCode;

    use super::*;
    use crate::chat::app::Update;
    use crate::chat::app::tests::{contact, key, message};

    /// Renders the app into a test terminal of `columns` × `rows`.
    pub(crate) fn render(app: &App, columns: u16, rows: u16) -> Buffer {
        let mut terminal = Terminal::new(TestBackend::new(columns, rows)).unwrap();
        terminal.draw(|frame| draw(frame, app)).unwrap();
        terminal.backend().buffer().clone()
    }

    /// The buffer as text, one line per row.
    pub(crate) fn screen(buffer: &Buffer) -> String {
        let mut out = String::new();
        for y in 0..buffer.area.height {
            for x in 0..buffer.area.width {
                out.push_str(buffer[(x, y)].symbol());
            }
            out.push('\n');
        }
        out
    }

    fn row_with<'a>(screen: &'a str, needle: &str) -> &'a str {
        screen
            .lines()
            .find(|line| line.contains(needle))
            .unwrap_or_else(|| panic!("no line with {needle:?} in\n{screen}"))
    }

    fn app_with(messages: Vec<(&str, MessageView)>) -> App {
        let mut app = App::new(Some("bob".into()));
        let _ = app.apply(Update::Me {
            name: "alice".into(),
        });
        let _ = app.apply(Update::Contacts(vec![
            contact("bob", "U-BOB"),
            contact("carol", "U-CAROL"),
        ]));
        for (user_id, message) in messages {
            let mut history = app
                .conversations()
                .iter()
                .find(|c| c.user_id == user_id)
                .map(|c| c.messages.clone())
                .unwrap_or_default();
            history.push(message);
            let _ = app.apply(Update::History {
                user_id: user_id.into(),
                messages: history,
            });
        }
        app
    }

    fn with_status(mut message: MessageView, status: &str, timestamp: i64) -> MessageView {
        message.status = status.into();
        message.timestamp = timestamp;
        message
    }

    #[test]
    fn list_shows_each_conversation_with_last_message_preview_and_unread_count() {
        let app = app_with(vec![
            ("U-BOB", message("b1", "U-BOB", "out", "see you at noon")),
            ("U-CAROL", message("c1", "U-CAROL", "in", "first")),
            ("U-CAROL", message("c2", "U-CAROL", "in", "are you there")),
        ]);
        let screen = screen(&render(&app, 100, 20));
        let carol = row_with(&screen, "carol");
        assert!(carol.contains(" 2 "), "two unread from carol:\n{screen}");
        assert!(row_with(&screen, "are you there").contains("are you there"));
        assert!(
            screen.contains("you: see you at noon"),
            "my last message is the preview:\n{screen}"
        );
        // Bob's conversation is open, so it has nothing unread and no badge.
        let bob = row_with(&screen, "│▌bob");
        assert!(
            !bob.trim_end_matches('│')
                .trim_end()
                .ends_with(char::is_numeric),
            "{bob}"
        );
        assert!(screen.contains("alice"), "my name in the status bar");
        assert!(screen.contains("Esc quit"), "help keys in the status bar");
    }

    #[test]
    fn my_messages_carry_a_tick_per_status_and_read_is_highlighted() {
        let base = 1_700_000_000_000;
        let app = app_with(vec![
            (
                "U-BOB",
                with_status(message("1", "U-BOB", "out", "msg-queued"), "queued", base),
            ),
            (
                "U-BOB",
                with_status(message("2", "U-BOB", "out", "msg-sent"), "sent", base + 1),
            ),
            (
                "U-BOB",
                with_status(
                    message("3", "U-BOB", "out", "msg-delivered"),
                    "delivered",
                    base + 2,
                ),
            ),
            (
                "U-BOB",
                with_status(message("4", "U-BOB", "out", "msg-read"), "read", base + 3),
            ),
            (
                "U-BOB",
                with_status(
                    message("5", "U-BOB", "out", "msg-failed"),
                    "failed",
                    base + 4,
                ),
            ),
            (
                "U-BOB",
                with_status(message("6", "U-BOB", "in", "msg-in"), "delivered", base + 5),
            ),
        ]);
        let buffer = render(&app, 100, 24);
        let screen = screen(&buffer);
        let tick_of = |text: &str| {
            let row = row_with(&screen, text);
            row[row.find(text).unwrap() + text.len()..]
                .trim_start()
                .chars()
                .take_while(|ch| !ch.is_whitespace() && *ch != '│')
                .collect::<String>()
        };
        assert_eq!(tick_of("msg-queued"), "◷");
        assert_eq!(tick_of("msg-sent"), "✓");
        assert_eq!(tick_of("msg-delivered"), "✓✓");
        assert_eq!(tick_of("msg-read"), "✓✓");
        assert_eq!(tick_of("msg-failed"), "!");
        assert_eq!(tick_of("msg-in"), "", "no ticks on incoming messages");
        assert!(screen.contains("22:13"), "timestamps are shown:\n{screen}");
        assert!(screen.contains("2023-11-14"), "the day is shown:\n{screen}");
        // The read ticks are drawn highlighted, the delivered ones plainly.
        let style_of = |text: &str| {
            let y = screen.lines().position(|line| line.contains(text)).unwrap() as u16;
            let x = (0..buffer.area.width)
                .rfind(|&x| buffer[(x, y)].symbol() == "✓")
                .unwrap();
            buffer[(x, y)].fg
        };
        assert_eq!(style_of("msg-read"), Color::LightCyan);
        assert_ne!(style_of("msg-delivered"), Color::LightCyan);
    }

    #[test]
    fn escape_sequences_in_messages_and_names_are_not_drawn() {
        let mut evil = contact("bob", "U-BOB");
        evil.alias = Some("bob\u{1b}]0;pwned\u{7}".into());
        let mut app = App::new(None);
        let _ = app.apply(Update::Contacts(vec![evil]));
        let _ = app.apply(Update::Node(NodeEvent::Message {
            message: message(
                "m1",
                "U-BOB",
                "in",
                "\u{1b}[2J\u{1b}[31mboom\u{1b}[0m\u{7} done",
            ),
        }));
        let buffer = render(&app, 80, 16);
        let screen = screen(&buffer);
        assert!(screen.contains("boom done"), "{screen}");
        assert!(
            !screen.contains("[2J") && !screen.contains("pwned"),
            "{screen}"
        );
        for cell in buffer.content() {
            assert!(
                !cell.symbol().chars().any(char::is_control),
                "a control character reached the screen: {:?}",
                cell.symbol()
            );
        }
    }

    #[test]
    fn narrow_and_tiny_terminals_do_not_panic() {
        let long = "word ".repeat(200);
        let app = app_with(vec![
            ("U-BOB", message("b1", "U-BOB", "in", &long)),
            ("U-BOB", message("b2", "U-BOB", "out", "日本語のテキスト")),
            ("U-CAROL", message("c1", "U-CAROL", "in", "hi")),
        ]);
        let screen = screen(&render(&app, 40, 12));
        assert!(screen.contains("bob"), "{screen}");
        assert!(screen.contains("Enter"), "{screen}");
        for columns in 0..45 {
            for rows in 0..14 {
                let _ = render(&app, columns, rows);
            }
        }
    }

    #[test]
    fn long_messages_wrap_inside_the_pane_and_page_up_shows_older_ones() {
        let mut messages = Vec::new();
        for n in 0..40 {
            messages.push((
                "U-BOB",
                message(&format!("m{n}"), "U-BOB", "in", &format!("line number {n}")),
            ));
        }
        messages.push((
            "U-BOB",
            message(
                "long",
                "U-BOB",
                "in",
                "the quick brown fox jumps over the lazy dog again and again",
            ),
        ));
        let mut app = app_with(messages);
        let screen_now = screen(&render(&app, 60, 16));
        for word in ["quick", "lazy", "again"] {
            assert!(screen_now.contains(word), "{word} is shown:\n{screen_now}");
        }
        assert!(!screen_now.contains("line number 5\n") && !screen_now.contains("line number 5 "));
        let _ = app.handle_key(key(KeyCode::PageUp));
        let _ = app.handle_key(key(KeyCode::PageUp));
        let _ = app.handle_key(key(KeyCode::PageUp));
        let _ = app.handle_key(key(KeyCode::PageUp));
        let _ = app.handle_key(key(KeyCode::PageUp));
        let scrolled = screen(&render(&app, 60, 16));
        assert!(scrolled.contains("line number 0 "), "{scrolled}");
        assert!(
            scrolled.contains("more"),
            "the pane says there is more below:\n{scrolled}"
        );
    }

    #[test]
    fn edits_reactions_replies_and_deletes_show_in_the_chat() {
        let mut edited = message("m1", "U-BOB", "in", "fixed text");
        edited.edited_at = Some(5);
        edited.reply_to = Some("m0".into());
        edited.reactions = vec![
            omega_core::model::ReactionView {
                by: "a".into(),
                emoji: "🎉".into(),
            },
            omega_core::model::ReactionView {
                by: "b".into(),
                emoji: "🎉".into(),
            },
        ];
        let mut deleted = message("m2", "U-BOB", "in", "");
        deleted.deleted = true;
        let app = app_with(vec![("U-BOB", edited), ("U-BOB", deleted)]);
        let screen = screen(&render(&app, 100, 16));
        assert!(screen.contains("↪ fixed text (edited)"), "{screen}");
        // A wide emoji takes two cells, so the buffer holds it followed by a blank cell.
        assert!(screen.contains("[🎉") && screen.contains("2]"), "{screen}");
        assert!(screen.contains("message deleted"), "{screen}");
    }

    #[test]
    fn without_contacts_the_list_says_how_to_add_one() {
        let app = App::new(None);
        let screen = screen(&render(&app, 80, 12));
        assert!(screen.contains("no contacts yet"), "{screen}");
        assert!(screen.contains("connecting"), "{screen}");
    }

    #[test]
    fn composer_shows_what_is_typed_and_keeps_the_cursor_in_view() {
        let mut app = app_with(Vec::new());
        crate::chat::app::tests::type_text(&mut app, &"x".repeat(120));
        crate::chat::app::tests::type_text(&mut app, "END");
        let screen = screen(&render(&app, 60, 12));
        assert!(row_with(&screen, "END").contains("xxxEND"), "{screen}");
        assert!(screen.contains("message to bob"), "{screen}");
    }
}
