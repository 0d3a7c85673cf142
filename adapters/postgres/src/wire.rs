//! One PostgreSQL connection speaking the wire protocol (version 3) over a blocking TCP
//! stream: startup and authentication (cleartext, MD5 or SCRAM-SHA-256, by what the server
//! asks), then the extended query protocol with binary parameters and results. Message
//! framing and SCRAM come from `postgres-protocol`.
//!
//! Each request is written whole (Parse if the statement is not yet prepared on this
//! connection, Bind, Execute, and Sync) and read up to its ReadyForQuery: one round trip.

use crate::sql::{Statements, Stmt};
use byoc_guest_sdk::Error;
use bytes::{Buf, BytesMut};
use fallible_iterator::FallibleIterator;
use postgres_protocol::IsNull;
use postgres_protocol::authentication::{md5_hash, sasl};
use postgres_protocol::message::{backend, frontend};
use std::io::{Read, Write};
use std::net::TcpStream;

/// Where and as whom to connect.
#[derive(Clone)]
pub struct Target {
    /// Host name or address (must be granted).
    pub host: String,
    /// TCP port.
    pub port: u16,
    /// Role.
    pub user: String,
    /// Password, if the server asks for one.
    pub password: Option<String>,
    /// Database.
    pub database: String,
}

impl std::fmt::Debug for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Target")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("user", &self.user)
            .field("password", &self.password.as_ref().map(|_| "***"))
            .field("database", &self.database)
            .finish()
    }
}

/// A bound parameter value (sent in binary).
pub enum Param<'a> {
    /// `text`
    Text(&'a str),
    /// `bytea`
    Bytes(&'a [u8]),
    /// `int8`, or NULL.
    Int(Option<i64>),
    /// `text[]`
    Texts(&'a [&'a str]),
    /// `bytea[]`
    ByteArrays(&'a [&'a [u8]]),
    /// `int8[]` with NULLs.
    Ints(&'a [Option<i64>]),
}

type BoxError = Box<dyn std::error::Error + Sync + Send>;

impl Param<'_> {
    fn write(&self, buf: &mut BytesMut) -> Result<IsNull, BoxError> {
        use postgres_protocol::types as t;
        let dim = |n: usize| -> Result<_, BoxError> {
            Ok(Some(t::ArrayDimension {
                len: i32::try_from(n)?,
                lower_bound: 1,
            }))
        };
        match self {
            Param::Text(s) => t::text_to_sql(s, buf),
            Param::Bytes(b) => t::bytea_to_sql(b, buf),
            Param::Int(None) => return Ok(IsNull::Yes),
            Param::Int(Some(v)) => t::int8_to_sql(*v, buf),
            Param::Texts(v) => t::array_to_sql(
                dim(v.len())?,
                crate::sql::oid::TEXT,
                v.iter(),
                |s, buf| {
                    t::text_to_sql(s, buf);
                    Ok(IsNull::No)
                },
                buf,
            )?,
            Param::ByteArrays(v) => t::array_to_sql(
                dim(v.len())?,
                crate::sql::oid::BYTEA,
                v.iter(),
                |b, buf| {
                    t::bytea_to_sql(b, buf);
                    Ok(IsNull::No)
                },
                buf,
            )?,
            Param::Ints(v) => t::array_to_sql(
                dim(v.len())?,
                crate::sql::oid::INT8,
                v.iter(),
                |i, buf| match i {
                    Some(i) => {
                        t::int8_to_sql(*i, buf);
                        Ok(IsNull::No)
                    }
                    None => Ok(IsNull::Yes),
                },
                buf,
            )?,
        }
        Ok(IsNull::No)
    }
}

/// One result row: its columns (binary), `None` for NULL.
pub type Row = Vec<Option<Vec<u8>>>;

/// What a statement answered: its rows and the row count of its command tag.
#[derive(Debug, Default)]
pub struct Answer {
    /// The rows.
    pub rows: Vec<Row>,
    /// The count at the end of the command tag (`DELETE 3` → 3).
    pub affected: u64,
}

/// A failure of a request.
#[derive(Debug)]
pub enum Failure {
    /// The connection failed (I/O, protocol): it is dropped; a retry on a new one may work.
    Connection(String),
    /// The server answered an error; the connection stays usable.
    Server {
        /// SQLSTATE.
        code: String,
        /// The server's message.
        message: String,
    },
}

impl Failure {
    /// The contract's error for this failure.
    pub fn into_error(self) -> Error {
        match self {
            Failure::Connection(m) => Error::Unavailable(format!("postgres: {m}")),
            Failure::Server { code, message } => {
                let text = format!("postgres: {message} (SQLSTATE {code})");
                match code.get(..2).unwrap_or("") {
                    // Authorization, invalid role, insufficient privilege.
                    "28" => Error::Denied(text),
                    "42" if code == "42501" => Error::Denied(text),
                    // Connection, resources, operator intervention, system errors.
                    "08" | "53" | "57" | "58" => Error::Unavailable(text),
                    // Serialization failure, deadlock: retryable.
                    "40" => Error::Unavailable(text),
                    "22" | "23" => Error::InvalidArgument(text),
                    _ => Error::Internal(text),
                }
            }
        }
    }
}

fn io(what: &str, e: impl std::fmt::Display) -> Failure {
    Failure::Connection(format!("{what}: {e}"))
}

/// A connected, authenticated session.
pub struct Conn {
    stream: TcpStream,
    read: BytesMut,
    write: BytesMut,
    /// Which statements are prepared on this connection (by [`Stmt`] index).
    prepared: u32,
}

impl Conn {
    /// Connects to `target` and authenticates.
    pub fn connect(target: &Target) -> Result<Conn, Failure> {
        let stream = TcpStream::connect((target.host.as_str(), target.port))
            .map_err(|e| io(&format!("connect to {}:{}", target.host, target.port), e))?;
        let _ = stream.set_nodelay(true);
        let mut conn = Conn {
            stream,
            read: BytesMut::with_capacity(8192),
            write: BytesMut::with_capacity(8192),
            prepared: 0,
        };
        conn.startup(target)?;
        Ok(conn)
    }

    fn startup(&mut self, target: &Target) -> Result<(), Failure> {
        frontend::startup_message(
            [
                ("user", target.user.as_str()),
                ("database", target.database.as_str()),
                ("client_encoding", "UTF8"),
                ("application_name", "byoc"),
            ],
            &mut self.write,
        )
        .map_err(|e| io("startup message", e))?;
        self.flush()?;
        let password = || {
            target
                .password
                .as_deref()
                .map(str::as_bytes)
                .ok_or_else(|| Failure::Server {
                    code: "28P01".into(),
                    message: "the server asks for a password and none is configured".into(),
                })
        };
        let mut scram: Option<sasl::ScramSha256> = None;
        loop {
            match self.next()? {
                backend::Message::AuthenticationOk => {}
                backend::Message::AuthenticationCleartextPassword => {
                    frontend::password_message(password()?, &mut self.write)
                        .map_err(|e| io("password message", e))?;
                    self.flush()?;
                }
                backend::Message::AuthenticationMd5Password(body) => {
                    let hash = md5_hash(target.user.as_bytes(), password()?, body.salt());
                    frontend::password_message(hash.as_bytes(), &mut self.write)
                        .map_err(|e| io("password message", e))?;
                    self.flush()?;
                }
                backend::Message::AuthenticationSasl(body) => {
                    let mut mechanisms = body.mechanisms();
                    let mut offered = false;
                    while let Some(m) = mechanisms.next().map_err(|e| io("SASL", e))? {
                        offered |= m == sasl::SCRAM_SHA_256;
                    }
                    if !offered {
                        return Err(Failure::Server {
                            code: "28000".into(),
                            message: "the server offers no SASL mechanism this client knows".into(),
                        });
                    }
                    let s =
                        sasl::ScramSha256::new(password()?, sasl::ChannelBinding::unsupported());
                    frontend::sasl_initial_response(
                        sasl::SCRAM_SHA_256,
                        s.message(),
                        &mut self.write,
                    )
                    .map_err(|e| io("SASL", e))?;
                    self.flush()?;
                    scram = Some(s);
                }
                backend::Message::AuthenticationSaslContinue(body) => {
                    let s = scram
                        .as_mut()
                        .ok_or_else(|| io("SASL", "unexpected continue"))?;
                    s.update(body.data()).map_err(|e| io("SCRAM", e))?;
                    frontend::sasl_response(s.message(), &mut self.write)
                        .map_err(|e| io("SASL", e))?;
                    self.flush()?;
                }
                backend::Message::AuthenticationSaslFinal(body) => {
                    let mut s = scram.take().ok_or_else(|| io("SASL", "unexpected final"))?;
                    s.finish(body.data())
                        .map_err(|e| io("SCRAM server signature", e))?;
                }
                backend::Message::ErrorResponse(body) => return Err(server_error(&body)),
                backend::Message::ReadyForQuery(_) => return Ok(()),
                backend::Message::AuthenticationGss
                | backend::Message::AuthenticationKerberosV5
                | backend::Message::AuthenticationScmCredential
                | backend::Message::AuthenticationSspi => {
                    return Err(Failure::Server {
                        code: "28000".into(),
                        message: "the server asks for an unsupported authentication method".into(),
                    });
                }
                // ParameterStatus, BackendKeyData, notices.
                _ => {}
            }
        }
    }

    /// Runs the statements of `requests` (each with its parameters) in one round trip, in
    /// one implicit transaction; the answer of each. A server error fails them all.
    pub fn run(
        &mut self,
        statements: &Statements,
        requests: &[(Stmt, &[Param<'_>])],
    ) -> Result<Vec<Answer>, Failure> {
        let mut parsing = 0u32;
        for (stmt, params) in requests {
            let bit = 1u32 << (*stmt as u32);
            if (self.prepared | parsing) & bit == 0 {
                frontend::parse(
                    stmt.name(),
                    statements.sql(*stmt),
                    stmt.param_types().iter().copied(),
                    &mut self.write,
                )
                .map_err(|e| io("parse message", e))?;
                parsing |= bit;
            }
            let bound = frontend::bind(
                "",
                stmt.name(),
                [1i16],
                params.iter(),
                |p, buf| p.write(buf),
                [1i16],
                &mut self.write,
            );
            if let Err(e) = bound {
                self.write.clear();
                return Err(Failure::Server {
                    code: "22000".into(),
                    message: match e {
                        frontend::BindError::Conversion(e) => format!("parameter: {e}"),
                        frontend::BindError::Serialization(e) => format!("parameter: {e}"),
                    },
                });
            }
            frontend::execute("", 0, &mut self.write).map_err(|e| io("execute message", e))?;
        }
        frontend::sync(&mut self.write);
        self.flush()?;
        let mut answers = Vec::with_capacity(requests.len());
        let mut current = Answer::default();
        let mut error = None;
        loop {
            match self.next()? {
                backend::Message::ParseComplete | backend::Message::BindComplete => {}
                backend::Message::DataRow(row) => {
                    let mut cols = Vec::new();
                    let mut ranges = row.ranges();
                    while let Some(range) = ranges.next().map_err(|e| io("data row", e))? {
                        cols.push(range.map(|r| row.buffer()[r].to_vec()));
                    }
                    current.rows.push(cols);
                }
                backend::Message::CommandComplete(body) => {
                    let tag = body.tag().map_err(|e| io("command tag", e))?;
                    current.affected = tag
                        .rsplit(' ')
                        .next()
                        .and_then(|n| n.parse().ok())
                        .unwrap_or(0);
                    answers.push(std::mem::take(&mut current));
                }
                backend::Message::EmptyQueryResponse => {
                    answers.push(std::mem::take(&mut current));
                }
                backend::Message::ErrorResponse(body) => error = Some(server_error(&body)),
                backend::Message::ReadyForQuery(_) => break,
                // Notices, parameter changes, NoData.
                _ => {}
            }
        }
        match error {
            // Statements that failed to parse are not prepared; the rest of the round trip
            // was skipped by the server, so which ones were is not known: forget them all.
            Some(e) => {
                if parsing != 0 {
                    self.prepared = 0;
                    self.deallocate_all()?;
                }
                Err(e)
            }
            None => {
                self.prepared |= parsing;
                if answers.len() != requests.len() {
                    return Err(io(
                        "protocol",
                        format!("{} answers to {} statements", answers.len(), requests.len()),
                    ));
                }
                Ok(answers)
            }
        }
    }

    /// Runs one SQL text with the simple query protocol (no parameters); its error, if any.
    pub fn simple(&mut self, sql: &str) -> Result<(), Failure> {
        frontend::query(sql, &mut self.write).map_err(|e| io("query message", e))?;
        self.flush()?;
        let mut error = None;
        loop {
            match self.next()? {
                backend::Message::ErrorResponse(body) => error = Some(server_error(&body)),
                backend::Message::ReadyForQuery(_) => break,
                _ => {}
            }
        }
        error.map_or(Ok(()), Err)
    }

    /// Forgets every prepared statement of this session, so that names can be parsed again.
    fn deallocate_all(&mut self) -> Result<(), Failure> {
        self.simple("DEALLOCATE ALL")
    }

    fn flush(&mut self) -> Result<(), Failure> {
        let result = self.stream.write_all(&self.write);
        self.write.clear();
        result.map_err(|e| io("write", e))
    }

    /// The next backend message, reading as needed.
    fn next(&mut self) -> Result<backend::Message, Failure> {
        loop {
            if let Some(msg) =
                backend::Message::parse(&mut self.read).map_err(|e| io("protocol", e))?
            {
                return Ok(msg);
            }
            let start = self.read.len();
            // Read into spare capacity; grow for a large message.
            let want = match backend::Header::parse(&self.read).map_err(|e| io("protocol", e))? {
                Some(h) => (h.len() as usize + 1).saturating_sub(self.read.remaining()),
                None => 8192,
            }
            .max(8192);
            self.read.resize(start + want, 0);
            match self.stream.read(&mut self.read[start..]) {
                Ok(0) => {
                    self.read.truncate(start);
                    return Err(Failure::Connection(
                        "the server closed the connection".into(),
                    ));
                }
                Ok(n) => self.read.truncate(start + n),
                Err(e) => {
                    self.read.truncate(start);
                    return Err(io("read", e));
                }
            }
        }
    }
}

impl Drop for Conn {
    fn drop(&mut self) {
        frontend::terminate(&mut self.write);
        let _ = self.stream.write_all(&self.write);
    }
}

fn server_error(body: &backend::ErrorResponseBody) -> Failure {
    let mut code = String::new();
    let mut message = String::new();
    let mut fields = body.fields();
    while let Ok(Some(field)) = fields.next() {
        match field.type_() {
            b'C' => code = String::from_utf8_lossy(field.value_bytes()).into_owned(),
            b'M' => message = String::from_utf8_lossy(field.value_bytes()).into_owned(),
            _ => {}
        }
    }
    Failure::Server { code, message }
}
