//! Expressions: binary operators by precedence, unary `not` and `-`, literals, variables
//! and function calls.

use super::*;

impl Parser {
    pub(super) fn expr(&mut self) -> PResult<Expr> {
        self.enter()?;
        let e = self.binary(1)?;
        self.depth -= 1;
        Ok(e)
    }

    pub(super) fn peek_binop(&self) -> Option<BinOp> {
        Some(match self.peek() {
            Tok::Punct("+") => BinOp::Add,
            Tok::Punct("-") => BinOp::Sub,
            Tok::Punct("*") => BinOp::Mul,
            Tok::Punct("/") => BinOp::Div,
            Tok::Punct("%") => BinOp::Rem,
            Tok::Punct("==") => BinOp::Eq,
            Tok::Punct("!=") => BinOp::Ne,
            Tok::Punct("<") => BinOp::Lt,
            Tok::Punct("<=") => BinOp::Le,
            Tok::Punct(">") => BinOp::Gt,
            Tok::Punct(">=") => BinOp::Ge,
            Tok::Ident(s) if s == "and" => BinOp::And,
            Tok::Ident(s) if s == "or" => BinOp::Or,
            _ => return None,
        })
    }

    pub(super) fn binary(&mut self, min_prec: u8) -> PResult<Expr> {
        let mut lhs = self.unary()?;
        let mut guard = 0u32;
        while let Some(op) = self.peek_binop() {
            let prec = op.precedence();
            if prec < min_prec {
                break;
            }
            guard += 1;
            if guard > 10_000 {
                return self.err("expression too long", None);
            }
            self.bump();
            self.enter()?;
            let rhs = self.binary(prec + 1)?;
            self.depth -= 1;
            let span = lhs.span.to(rhs.span);
            lhs = Expr {
                kind: ExprKind::Bin(op, Box::new(lhs), Box::new(rhs)),
                span,
            };
        }
        Ok(lhs)
    }

    pub(super) fn unary(&mut self) -> PResult<Expr> {
        let start = self.span();
        if self.eat_word("not") {
            self.enter()?;
            // `not` covers a comparison: `not a == b` is `not (a == b)`.
            let e = self.binary(3)?;
            self.depth -= 1;
            return Ok(Expr {
                span: start.to(e.span),
                kind: ExprKind::Not(Box::new(e)),
            });
        }
        if self.eat_punct("-") {
            self.enter()?;
            let e = self.unary()?;
            self.depth -= 1;
            return Ok(Expr {
                span: start.to(e.span),
                kind: ExprKind::Neg(Box::new(e)),
            });
        }
        self.primary()
    }

    pub(super) fn primary(&mut self) -> PResult<Expr> {
        let (tok, span) = (self.peek().clone(), self.span());
        let kind = match tok {
            Tok::Str(s) => ExprKind::Str(s),
            Tok::Num(n) => ExprKind::Num(n),
            Tok::Dur(d) => ExprKind::Dur(d),
            Tok::Punct("(") => {
                self.bump();
                let e = self.expr()?;
                self.expect_punct(")")?;
                return Ok(e);
            }
            Tok::Ident(w) if w == "true" => ExprKind::Bool(true),
            Tok::Ident(w) if w == "false" => ExprKind::Bool(false),
            Tok::Ident(w) if !matches!(w.as_str(), "and" | "or" | "not") => {
                self.bump();
                if self.eat_punct("(") {
                    let mut args = Vec::new();
                    while !self.eat_punct(")") {
                        args.push(self.expr()?);
                        if !self.eat_punct(",") {
                            self.expect_punct(")")?;
                            break;
                        }
                        if args.len() > 16 {
                            return self.err("too many arguments", None);
                        }
                    }
                    let name = Ident { name: w, span };
                    return Ok(Expr {
                        kind: ExprKind::Call(name, args),
                        span: span.to(self.prev_span()),
                    });
                }
                return Ok(Expr {
                    kind: ExprKind::Var(w),
                    span,
                });
            }
            _ => return self.expected("a value (a number, \"text\", true/false or a variable)"),
        };
        self.bump();
        Ok(Expr { kind, span })
    }
}
