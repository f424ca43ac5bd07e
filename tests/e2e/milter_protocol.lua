-- smtpbridge-milter under miltertest: negotiation, every step, verdict replies.
-- The policy is the sink's local rules (see miltertest_rules.yaml). -D socket=inet:PORT@HOST

local function check(cond, what)
  if not cond then
    error("FAILED: " .. what)
  end
  mt.echo("ok   " .. what)
end

local function expect_reply(conn, want, what)
  local got = mt.getreply(conn)
  check(got == want, what .. " (reply " .. tostring(got) .. ", want " .. tostring(want) .. ")")
end

-- 1. A transaction: one recipient refused, the message accepted without edits.
local conn = mt.connect(socket, 20, 0.1)
check(conn ~= nil, "connect to the milter")
check(mt.negotiate(conn, nil, nil, nil) == nil, "negotiate")
check(mt.test_action(conn, SMFIF_ADDHDRS), "asks for ADDHDRS")
check(mt.test_action(conn, SMFIF_CHGFROM), "asks for CHGFROM")
check(mt.test_action(conn, SMFIF_QUARANTINE), "asks for QUARANTINE")

check(mt.macro(conn, SMFIC_CONNECT, "j", "mx.example", "{daemon_name}", "smtpd") == nil, "macros")
check(mt.conninfo(conn, "client.example", "192.0.2.10") == nil, "conninfo")
expect_reply(conn, SMFIR_CONTINUE, "connect continues")
check(mt.helo(conn, "client.example") == nil, "helo")
expect_reply(conn, SMFIR_CONTINUE, "helo continues")
check(mt.mailfrom(conn, "<sender@example.com>", "SIZE=100") == nil, "mail")
expect_reply(conn, SMFIR_CONTINUE, "mail continues")
check(mt.rcptto(conn, "<blocked@example.net>") == nil, "rcpt blocked")
expect_reply(conn, SMFIR_REPLYCODE, "blocked recipient gets a reply code")
check(mt.rcptto(conn, "<ok@example.net>") == nil, "rcpt ok")
expect_reply(conn, SMFIR_CONTINUE, "other recipient continues")
check(mt.data(conn) == nil, "data")
expect_reply(conn, SMFIR_CONTINUE, "data continues")
check(mt.header(conn, "Subject", "miltertest") == nil, "header")
check(mt.header(conn, "From", "sender@example.com") == nil, "header 2")
check(mt.eoh(conn) == nil, "eoh")
check(mt.bodystring(conn, "hello\r\nworld\r\n") == nil, "body")
check(mt.eom(conn) == nil, "eom")
expect_reply(conn, SMFIR_CONTINUE, "message accepted")
check(not mt.eom_check(conn, MT_HDRADD), "no header added by the fallback")
check(not mt.eom_check(conn, MT_QUARANTINE), "not quarantined")

-- A second transaction on the same connection after an abort.
check(mt.abort(conn) == nil, "abort")
check(mt.mailfrom(conn, "<other@example.com>") == nil, "mail after abort")
expect_reply(conn, SMFIR_CONTINUE, "mail after abort continues")
check(mt.unknown(conn, "XFOO bar") == nil, "unknown command")
expect_reply(conn, SMFIR_CONTINUE, "unknown command continues")
check(mt.disconnect(conn) == nil, "disconnect")

-- 2. A HELO the local rules tempfail.
conn = mt.connect(socket, 20, 0.1)
check(mt.negotiate(conn, nil, nil, nil) == nil, "negotiate again")
check(mt.conninfo(conn, "host.evil.example", "192.0.2.11") == nil, "conninfo 2")
check(mt.helo(conn, "host.evil.example") == nil, "helo evil")
expect_reply(conn, SMFIR_REPLYCODE, "evil helo gets a 4xx reply code")
mt.disconnect(conn)

-- 3. A client the local rules refuse at connect.
conn = mt.connect(socket, 20, 0.1)
check(mt.negotiate(conn, nil, nil, nil) == nil, "negotiate 3")
check(mt.conninfo(conn, "bad.example", "198.51.100.7") == nil, "conninfo refused client")
local r = mt.getreply(conn)
check(r == SMFIR_REJECT or r == SMFIR_REPLYCODE, "refused client is rejected at connect")
mt.disconnect(conn, false)
