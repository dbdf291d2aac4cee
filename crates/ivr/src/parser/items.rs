//! Top-level items: entries and their number patterns, includes, time zone, language,
//! lists, holidays calendars, opening hours, blocks and subs.

use super::*;

impl Parser {
    pub(super) fn file(&mut self) -> PResult<File> {
        let mut items = Vec::new();
        loop {
            while self.eat_punct(";") {}
            if *self.peek() == Tok::Eof {
                return Ok(File { items });
            }
            items.push(self.item()?);
        }
    }

    pub(super) fn item(&mut self) -> PResult<Item> {
        let start = self.span();
        let Tok::Ident(word) = self.peek().clone() else {
            return self.expected("a top-level item (`entry`, `block`, `sub`, `include`, ...)");
        };
        self.bump();
        match word.as_str() {
            "timezone" => Ok(Item::Timezone(
                self.string("a time zone name such as \"Europe/Moscow\"")?,
            )),
            "language" => Ok(Item::Language(self.lang()?, start.to(self.prev_span()))),
            "allow" => {
                self.expect_word("external")?;
                Ok(Item::AllowExternal(start.to(self.prev_span())))
            }
            "fallback" => {
                self.expect_word("queue")?;
                Ok(Item::Fallback(self.ident("a queue name")?))
            }
            "include" => Ok(Item::Include(self.string("a file name in quotes")?)),
            "entry" => self.entry(start),
            "list" => {
                let name = self.ident("a list name")?;
                self.expect_punct("=")?;
                self.expect_punct("[")?;
                let mut items = Vec::new();
                while !self.eat_punct("]") {
                    items.push(self.string("a string or `]`")?);
                    if !self.eat_punct(",") {
                        self.expect_punct("]")?;
                        break;
                    }
                }
                Ok(Item::List(ListDef { name, items }))
            }
            "holidays" => self.holidays(),
            "hours" => self.hours(),
            "block" | "sub" => {
                let name = self.ident(&format!("a name for the {word}"))?;
                let (body, end) = self.body()?;
                let def = BlockDef { name, body, end };
                Ok(if word == "block" {
                    Item::Block(def)
                } else {
                    Item::Sub(def)
                })
            }
            _ => {
                self.pos -= 1;
                let help = if STMT_WORDS.split(", ").any(|w| w == word) {
                    Some(format!(
                        "`{word}` is a statement: put it inside a `block NAME {{ ... }}`"
                    ))
                } else {
                    Some("a file contains `timezone`, `language`, `include`, `entry`, `list`, `holidays`, `hours`, `block` and `sub`".into())
                };
                self.err(
                    format!("`{word}` can't be used at the top level of a file"),
                    help,
                )
            }
        }
    }

    pub(super) fn entry(&mut self, start: Span) -> PResult<Item> {
        let mut to = None;
        let mut from = None;
        let mut tenant = None;
        loop {
            if self.eat_word("to") {
                to = Some(self.pattern()?);
            } else if self.eat_word("from") {
                from = Some(self.pattern()?);
            } else if self.eat_word("tenant") {
                tenant = Some(self.string("a tenant name in quotes")?);
            } else if self.eat_word("default") {
            } else {
                break;
            }
        }
        if !self.is_word("goto") {
            return self.err(
                format!(
                    "expected `to`, `from`, `tenant` or `goto`, found {}",
                    describe(self.peek())
                ),
                Some("an entry looks like: entry to \"100\" goto main".into()),
            );
        }
        self.bump();
        let target = self.ident("the name of the block the call starts in")?;
        Ok(Item::Entry(Entry {
            to,
            from,
            tenant,
            span: start.to(target.span),
            target,
        }))
    }

    pub(super) fn pattern(&mut self) -> PResult<Pattern> {
        if self.eat_word("prefix") {
            Ok(Pattern::Prefix(self.string("a prefix in quotes")?))
        } else if self.eat_word("regex") {
            Ok(Pattern::Regex(
                self.string("a regular expression in quotes")?,
            ))
        } else if self.eat_word("in") {
            Ok(Pattern::InList(self.ident("a list name")?))
        } else if let Tok::Str(_) = self.peek() {
            Ok(Pattern::Exact(self.string("a string")?))
        } else {
            self.expected("a pattern: \"text\", `prefix \"+7\"`, `regex \"^8\"` or `in LIST`")
        }
    }

    pub(super) fn holidays(&mut self) -> PResult<Item> {
        let name = self.ident("a name for the holiday calendar")?;
        self.expect_punct("{")?;
        let mut days = Vec::new();
        while !self.eat_punct("}") {
            let span = self.span();
            let Tok::Date(y, m, d) = *self.peek() else {
                return self.expected("a date such as 2026-01-01 or `}`");
            };
            let Some(date) = chrono::NaiveDate::from_ymd_opt(y.into(), m.into(), d.into()) else {
                return self.err(format!("{y:04}-{m:02}-{d:02} is not a real date"), None);
            };
            self.bump();
            let note = if let Tok::Str(_) = self.peek() {
                Some(self.string("a note")?)
            } else {
                None
            };
            days.push((date, note, span));
            if days.len() > 10_000 {
                return self.err("too many holidays in one calendar", None);
            }
        }
        Ok(Item::Holidays(HolidaysDef { name, days }))
    }

    pub(super) fn day(&mut self) -> PResult<u8> {
        const DAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
        if let Tok::Ident(s) = self.peek() {
            if let Some(i) = DAYS.iter().position(|d| d == s) {
                self.bump();
                return Ok(i as u8);
            }
        }
        self.err(
            format!(
                "expected a day of the week, found {}",
                describe(self.peek())
            ),
            Some("days are written mon, tue, wed, thu, fri, sat, sun".into()),
        )
    }

    pub(super) fn time(&mut self) -> PResult<u32> {
        match *self.peek() {
            Tok::Time(t) if t <= 24 * 60 => {
                self.bump();
                Ok(t)
            }
            Tok::Time(_) => self.err("this time is past 24:00", None),
            _ => self.expected("a time such as 09:00"),
        }
    }

    pub(super) fn hours(&mut self) -> PResult<Item> {
        let name = self.ident("a name for the opening hours")?;
        self.expect_punct("{")?;
        let mut ranges = Vec::new();
        let mut closed_on = Vec::new();
        while !self.eat_punct("}") {
            if self.eat_word("closed") {
                self.expect_word("on")?;
                closed_on.push(self.ident("the name of a `holidays` calendar")?);
                continue;
            }
            let start = self.span();
            let from_day = self.day()?;
            let to_day = if self.eat_punct("-") {
                self.day()?
            } else {
                from_day
            };
            let open = self.time()?;
            self.expect_punct("-")?;
            let close = self.time()?;
            ranges.push(HoursRange {
                from_day,
                to_day,
                open,
                close,
                span: start.to(self.prev_span()),
            });
            if ranges.len() > 1000 {
                return self.err("too many lines in one `hours`", None);
            }
        }
        Ok(Item::Hours(HoursDef {
            name,
            ranges,
            closed_on,
        }))
    }
}
