//! `omega chat`: a full-screen terminal chat with the running node.
//!
//! Layout: [`app`] is the state and what keys and node news do to it (pure, tested without a
//! terminal); [`ui`] draws it with ratatui; [`source`] talks to the node's local API and follows its
//! event stream on a background thread; [`text`] makes foreign text safe to print. This file owns
//! the terminal (raw mode, alternate screen, restored on exit and on panic) and the loop that
//! redraws on a key press or a node event.

mod app;
mod source;
mod text;
mod ui;

#[cfg(test)]
mod live_tests;

use std::collections::VecDeque;
use std::io::IsTerminal;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use omega_core::DataDir;
use ratatui::DefaultTerminal;
use ratatui::crossterm::event::{self, DisableBracketedPaste, EnableBracketedPaste, Event};
use ratatui::crossterm::execute;

use app::{Action, App, Update};
use source::NodeSource;

/// Events waiting for the UI thread; the stream reader blocks when it is full.
const EVENT_QUEUE: usize = 1024;
/// How long the loop waits for a key before it looks at node events again.
const POLL: Duration = Duration::from_millis(100);

/// Runs the chat until the user quits. `with` opens that conversation first.
pub fn run(data_dir: &DataDir, with: Option<String>) -> Result<()> {
    // Everything that can fail plainly (no node: exit code 3) fails before the terminal changes.
    let mut source = NodeSource::connect(data_dir)?;
    if !std::io::stdout().is_terminal() {
        bail!("omega chat needs a terminal (for scripts: omega send, omega messages)");
    }
    let mut app = App::new(with);
    let mut actions = Vec::new();
    for update in source.load()? {
        actions.extend(app.apply(update));
    }
    perform(&mut app, &mut source, actions);
    let (sender, updates) = mpsc::sync_channel(EVENT_QUEUE);
    let stop = Arc::new(AtomicBool::new(false));
    // Not joined on exit: it may be blocked reading the stream; it ends with the process.
    let _events = source::spawn_events(data_dir.clone(), sender, stop.clone())
        .context("cannot start the event reader")?;
    let result = Screen::enter()
        .and_then(|mut screen| event_loop(&mut screen.terminal, &mut app, &mut source, &updates));
    stop.store(true, Ordering::Relaxed);
    result
}

/// The terminal in raw mode on the alternate screen; restored when dropped. ratatui's panic hook
/// restores it on a panic too.
struct Screen {
    terminal: DefaultTerminal,
}

impl Screen {
    fn enter() -> Result<Screen> {
        let terminal = ratatui::try_init().context("cannot take over the terminal")?;
        let screen = Screen { terminal };
        // A paste arrives as one event, so its line breaks do not send it piecemeal.
        execute!(std::io::stdout(), EnableBracketedPaste).context("cannot set up the terminal")?;
        Ok(screen)
    }
}

impl Drop for Screen {
    fn drop(&mut self) {
        let _ = execute!(std::io::stdout(), DisableBracketedPaste);
        ratatui::restore();
    }
}

fn event_loop(
    terminal: &mut DefaultTerminal,
    app: &mut App,
    source: &mut NodeSource,
    updates: &Receiver<Update>,
) -> Result<()> {
    let mut dirty = true;
    loop {
        if dirty {
            terminal
                .draw(|frame| ui::draw(frame, app))
                .context("cannot draw")?;
            dirty = false;
        }
        let mut actions = Vec::new();
        if event::poll(POLL).context("cannot read the terminal")? {
            match event::read().context("cannot read the terminal")? {
                Event::Key(key) => {
                    actions.extend(app.handle_key(key));
                    dirty = true;
                }
                Event::Paste(text) => {
                    app.paste(&text);
                    dirty = true;
                }
                Event::Resize(..) => dirty = true,
                _ => {}
            }
        }
        while let Ok(update) = updates.try_recv() {
            actions.extend(app.apply(update));
            dirty = true;
        }
        if !perform(app, source, actions) {
            return Ok(());
        }
    }
}

/// Performs actions, and the actions their results lead to. Returns false once the user quit.
fn perform(app: &mut App, source: &mut NodeSource, actions: Vec<Action>) -> bool {
    let mut queue = VecDeque::from(actions);
    while let Some(action) = queue.pop_front() {
        if action == Action::Quit {
            return false;
        }
        for update in source.perform(&action) {
            queue.extend(app.apply(update));
        }
    }
    true
}
