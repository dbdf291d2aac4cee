//! Statements inside blocks and subs: bodies and branches, play/say, menus, digit
//! collection, if/match, HTTP requests and queueing with its options.

use super::*;

impl Parser {
    pub(super) fn body(&mut self) -> PResult<(Vec<Stmt>, Span)> {
        self.enter()?;
        let open = self.span();
        if !self.eat_punct("{") {
            return self.expected("`{`");
        }
        let mut stmts = Vec::new();
        loop {
            while self.eat_punct(";") {}
            if self.eat_punct("}") {
                break;
            }
            if *self.peek() == Tok::Eof {
                return Err(ParseError {
                    message: "this `{` is never closed".into(),
                    span: open,
                    help: Some("add a `}` at the end of the block".into()),
                });
            }
            stmts.push(self.stmt()?);
        }
        self.depth -= 1;
        Ok((stmts, self.prev_span()))
    }

    /// A `{ body }` or a single statement (used after `=>`).
    pub(super) fn branch(&mut self) -> PResult<Vec<Stmt>> {
        if matches!(self.peek(), Tok::Punct("}") | Tok::Eof) {
            return self.err(
                "nothing after `=>`",
                Some("say what happens, e.g. `2 => goto support`, or `2 => { ... }` for several lines".into()),
            );
        }
        if self.is_punct("{") {
            Ok(self.body()?.0)
        } else {
            self.enter()?;
            let s = self.stmt()?;
            self.depth -= 1;
            Ok(vec![s])
        }
    }

    pub(super) fn stmt(&mut self) -> PResult<Stmt> {
        let start = self.span();
        let Tok::Ident(word) = self.peek().clone() else {
            return self.err(
                format!("expected a statement, found {}", describe(self.peek())),
                Some(format!("statements start with one of: {STMT_WORDS}")),
            );
        };
        self.bump();
        let kind = match word.as_str() {
            "play" => StmtKind::Play(self.prompt_list()?),
            "say" => self.say()?,
            "menu" => StmtKind::Menu(self.menu()?),
            "collect" => StmtKind::Collect(self.collect()?),
            "set" => {
                let var = self.ident("a variable name")?;
                if !self.eat_punct("=") {
                    return self.expected("`=`");
                }
                StmtKind::Set(var, self.expr()?)
            }
            "if" => self.if_stmt()?,
            "match" => self.match_stmt()?,
            "goto" => StmtKind::Goto(self.ident("the name of a block")?),
            "call" => StmtKind::Call(self.ident("the name of a sub")?),
            "return" => StmtKind::Return,
            "hangup" => StmtKind::Hangup,
            "http" => StmtKind::Http(self.http()?),
            "callback" => StmtKind::Callback(self.callback()?),
            "priority" => StmtKind::Priority(self.expr()?),
            "tenant" => StmtKind::Tenant(self.expr()?),
            "skill" => StmtKind::Skill(self.expr()?),
            "screenpop" => {
                let key = self.string("a screen-pop field name in quotes")?;
                self.expect_punct("=")?;
                StmtKind::ScreenPop(key, self.expr()?)
            }
            "language" => StmtKind::Language(self.lang()?),
            "queue" => StmtKind::Queue(self.queue()?),
            "transfer" => {
                let kind = if self.eat_word("extension") {
                    TransferKind::Extension
                } else if self.eat_word("agent") {
                    TransferKind::Agent
                } else if self.eat_word("external") {
                    TransferKind::External
                } else {
                    return self.err(
                        format!(
                            "expected `extension`, `agent` or `external`, found {}",
                            describe(self.peek())
                        ),
                        Some("for example: transfer extension \"1001\"".into()),
                    );
                };
                StmtKind::Transfer(kind, self.expr()?)
            }
            _ => {
                self.pos -= 1;
                let help = if self.peek_at(1) == &Tok::Punct("=") {
                    format!("to change a variable write `set {word} = ...`")
                } else {
                    format!("statements start with one of: {STMT_WORDS}")
                };
                return self.err(format!("unknown statement `{word}`"), Some(help));
            }
        };
        Ok(Stmt {
            kind,
            span: start.to(self.prev_span()),
        })
    }

    pub(super) fn prompt_list(&mut self) -> PResult<Vec<StrLit>> {
        let mut v = vec![self.string("a prompt name in quotes, such as \"welcome\"")?];
        while self.eat_punct(",") {
            v.push(self.string("a prompt name in quotes")?);
            if v.len() > 256 {
                return self.err("too many prompts in one list", None);
            }
        }
        Ok(v)
    }

    pub(super) fn say(&mut self) -> PResult<StmtKind> {
        let kind = match self.peek() {
            Tok::Ident(s) => match s.as_str() {
                "number" => SayKind::Number,
                "digits" => SayKind::Digits,
                "money" => SayKind::Money,
                "duration" => SayKind::Duration,
                "time" => SayKind::Time,
                _ => return self.say_kind_err(),
            },
            _ => return self.say_kind_err(),
        };
        self.bump();
        let expr = self.expr()?;
        let mut feminine = false;
        let mut currency = None;
        loop {
            if self.eat_word("feminine") {
                feminine = true;
            } else if self.eat_word("in") {
                currency = Some(if self.eat_word("rub") {
                    Currency::Rub
                } else if self.eat_word("usd") {
                    Currency::Usd
                } else {
                    return self.expected("a currency: `rub` or `usd`");
                });
            } else {
                break;
            }
        }
        Ok(StmtKind::Say {
            kind,
            expr,
            feminine,
            currency,
        })
    }

    pub(super) fn say_kind_err<T>(&self) -> PResult<T> {
        self.err(
            format!("expected what to say, found {}", describe(self.peek())),
            Some(
                "write `say number`, `say digits`, `say money`, `say duration` or `say time`"
                    .into(),
            ),
        )
    }

    pub(super) fn menu(&mut self) -> PResult<Menu> {
        let prompts = self.prompt_list()?;
        let mut m = Menu {
            prompts,
            timeout: None,
            retries: None,
            choices: Vec::new(),
            invalid: None,
            on_timeout: None,
            default: None,
        };
        loop {
            if self.eat_word("timeout") {
                m.timeout = Some(self.duration("a timeout such as 5s")?);
            } else if self.eat_word("retries") {
                m.retries = Some(self.count("the number of tries, such as 3")?);
            } else {
                break;
            }
        }
        if !self.is_punct("{") {
            return self.err(
                format!("expected `timeout`, `retries` or `{{`, found {}", describe(self.peek())),
                Some("a menu looks like: menu \"main-menu\" timeout 5s retries 3 { 1 => goto sales }".into()),
            );
        }
        self.enter()?;
        let open = self.span();
        self.bump();
        loop {
            while self.eat_punct(";") {}
            if self.eat_punct("}") {
                break;
            }
            let key_span = self.span();
            let key = match self.peek().clone() {
                Tok::Num(n) if n.fract() == 0.0 && (0.0..=9.0).contains(&n) => {
                    Some(format!("{}", n as u32))
                }
                Tok::Str(s) => Some(s),
                Tok::Punct("*") => Some("*".into()),
                Tok::Ident(w) if w == "invalid" || w == "timeout" || w == "default" => {
                    self.bump();
                    self.expect_punct("=>")?;
                    let b = self.branch()?;
                    match w.as_str() {
                        "invalid" => m.invalid = Some(b),
                        "timeout" => m.on_timeout = Some(b),
                        _ => m.default = Some(b),
                    }
                    continue;
                }
                Tok::Eof => {
                    return Err(ParseError {
                        message: "this menu's `{` is never closed".into(),
                        span: open,
                        help: Some("add a `}` after the last choice".into()),
                    })
                }
                _ => None,
            };
            let Some(key) = key else {
                return self.err(
                    format!("expected a key (0-9, \"*\", \"#\"), `invalid`, `timeout`, `default` or `}}`, found {}", describe(self.peek())),
                    None,
                );
            };
            self.bump();
            self.expect_punct("=>")?;
            let b = self.branch()?;
            m.choices.push((
                StrLit {
                    value: key,
                    span: key_span,
                },
                b,
            ));
        }
        self.depth -= 1;
        Ok(m)
    }

    pub(super) fn collect(&mut self) -> PResult<Collect> {
        let var = self.ident("the variable that receives the digits")?;
        self.expect_word("digits")?;
        let max_digits = self.count("the maximum number of digits")?;
        let mut c = Collect {
            var,
            max_digits,
            prompts: Vec::new(),
            terminator: None,
            timeout: None,
        };
        loop {
            if self.eat_word("prompt") {
                c.prompts = self.prompt_list()?;
            } else if self.eat_word("terminator") {
                c.terminator = Some(self.string("a key in quotes, such as \"#\"")?);
            } else if self.eat_word("timeout") {
                c.timeout = Some(self.duration("a timeout such as 5s")?);
            } else {
                break;
            }
        }
        Ok(c)
    }

    pub(super) fn if_stmt(&mut self) -> PResult<StmtKind> {
        let mut branches = vec![(self.expr()?, self.body()?.0)];
        let mut otherwise = None;
        while self.eat_word("else") {
            if self.eat_word("if") {
                branches.push((self.expr()?, self.body()?.0));
            } else {
                otherwise = Some(self.body()?.0);
                break;
            }
        }
        Ok(StmtKind::If {
            branches,
            otherwise,
        })
    }

    pub(super) fn match_stmt(&mut self) -> PResult<StmtKind> {
        let subject = self.expr()?;
        self.enter()?;
        self.expect_punct("{")?;
        let mut arms = Vec::new();
        let mut otherwise = None;
        loop {
            while self.eat_punct(";") {}
            if self.eat_punct("}") {
                break;
            }
            if self.eat_word("else") {
                self.expect_punct("=>")?;
                otherwise = Some(self.branch()?);
                continue;
            }
            let pat = self.pattern()?;
            self.expect_punct("=>")?;
            arms.push((pat, self.branch()?));
        }
        self.depth -= 1;
        Ok(StmtKind::Match {
            subject,
            arms,
            otherwise,
        })
    }

    pub(super) fn http(&mut self) -> PResult<Http> {
        let method = if self.eat_word("get") {
            HttpMethod::Get
        } else if self.eat_word("post") {
            HttpMethod::Post
        } else {
            return self.expected("`get` or `post`");
        };
        let url = self.expr()?;
        let mut h = Http {
            method,
            url,
            body: Vec::new(),
            timeout: None,
            results: Vec::new(),
            fallback: None,
        };
        loop {
            if self.eat_word("body") {
                self.expect_punct("{")?;
                while !self.eat_punct("}") {
                    let k = self.ident("a field name")?;
                    self.expect_punct(":")?;
                    h.body.push((k, self.expr()?));
                    self.eat_punct(",");
                }
            } else if self.eat_word("timeout") {
                h.timeout = Some(self.duration("a timeout such as 3s")?);
            } else {
                break;
            }
        }
        if self.eat_punct("{") {
            while !self.eat_punct("}") {
                let var = self.ident("a variable name or `}`")?;
                self.expect_punct("=")?;
                let ty = if self.eat_word("string") {
                    Type::Str
                } else if self.eat_word("number") {
                    Type::Num
                } else if self.eat_word("bool") {
                    Type::Bool
                } else {
                    return self.err(
                        format!(
                            "expected `string`, `number` or `bool`, found {}",
                            describe(self.peek())
                        ),
                        Some("for example: balance = number \"account.balance\"".into()),
                    );
                };
                let path = self
                    .string("the field's path in the JSON answer, such as \"account.balance\"")?;
                h.results.push(HttpResultField { var, ty, path });
            }
        }
        if self.eat_word("fallback") {
            h.fallback = Some(self.body()?.0);
        }
        Ok(h)
    }

    /// `callback EXPR queue NAME [at EXPR | after DURATION] [fallback { ... }]`
    pub(super) fn callback(&mut self) -> PResult<CallbackStmt> {
        let number = self.expr()?;
        if !self.eat_word("queue") {
            return self.err(
                format!("expected `queue`, found {}", describe(self.peek())),
                Some("for example: callback callback_number queue support at \"09:00\"".into()),
            );
        }
        let queue = self.ident("a queue name")?;
        let when = if self.eat_word("at") {
            Some(CallbackWhen::At(self.expr()?))
        } else if self.eat_word("after") {
            Some(CallbackWhen::After(
                self.duration("a delay such as 30m or 2h")?,
            ))
        } else {
            None
        };
        let fallback = if self.eat_word("fallback") {
            Some(self.body()?.0)
        } else {
            None
        };
        Ok(CallbackStmt {
            number,
            queue,
            when,
            fallback,
        })
    }

    pub(super) fn queue(&mut self) -> PResult<Queue> {
        let name = self.ident("a queue name")?;
        let mut opts = Vec::new();
        if self.eat_punct("{") {
            loop {
                while self.eat_punct(";") {}
                if self.eat_punct("}") {
                    break;
                }
                let start = self.span();
                let Tok::Ident(w) = self.peek().clone() else {
                    return self.expected("a queue option or `}`");
                };
                self.bump();
                let opt = match w.as_str() {
                    "priority" => QueueOpt::Priority(self.expr()?),
                    "max_wait" => {
                        let d = self.duration("the longest wait, such as 5m")?;
                        let target = if self.eat_word("goto") {
                            Some(self.ident("a block name")?)
                        } else {
                            None
                        };
                        QueueOpt::MaxWait(d, target, start.to(self.prev_span()))
                    }
                    "exit" => {
                        let key = self.string("a key in quotes, such as \"0\"")?;
                        self.expect_word("goto")?;
                        QueueOpt::Exit(key, self.ident("a block name")?)
                    }
                    "announce" => {
                        let d = self.duration("how often to announce, such as 60s")?;
                        QueueOpt::Announce(d, start.to(self.prev_span()))
                    }
                    "callback" => {
                        QueueOpt::Callback(self.string("a key in quotes, such as \"5\"")?)
                    }
                    "whisper" => QueueOpt::Whisper(self.string("a prompt name in quotes")?),
                    _ => {
                        self.pos -= 1;
                        return self.err(
                            format!("unknown queue option `{w}`"),
                            Some("queue options are priority, max_wait, exit, announce, callback, whisper".into()),
                        );
                    }
                };
                opts.push(opt);
            }
        }
        Ok(Queue { name, opts })
    }
}
