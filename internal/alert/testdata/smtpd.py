#!/usr/bin/env python3
"""SMTP server for internal/alert's e-mail test (Debian python3-aiosmtpd).

usage: smtpd.py CERT KEY OUTDIR USER PASSWORD

Listens on 127.0.0.1 on a free port, prints the port on stdout, requires
STARTTLS (with CERT/KEY) before anything else and AUTH (PLAIN or LOGIN,
USER/PASSWORD) before MAIL. Each accepted message is written to
OUTDIR/msgN.eml as received, and OUTDIR/msgN.json holds the envelope and
session facts (written last, by rename, so a reader never sees half).
"""
import asyncio
import json
import os
import ssl
import sys

from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword


def main():
    cert, key, outdir, user, password = sys.argv[1:6]
    tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    tls.load_cert_chain(cert, key)

    class Handler:
        count = 0

        async def handle_DATA(self, server, session, envelope):
            Handler.count += 1
            base = os.path.join(outdir, "msg%d" % Handler.count)
            login = getattr(session.auth_data, "login", None)
            if isinstance(login, bytes):
                login = login.decode()
            meta = {
                "mail_from": envelope.mail_from,
                "rcpt_tos": envelope.rcpt_tos,
                "tls": session.ssl is not None,
                "authenticated": bool(session.authenticated),
                "login": login,
            }
            with open(base + ".eml", "wb") as f:
                f.write(envelope.original_content)
            with open(base + ".json.tmp", "w") as f:
                json.dump(meta, f)
            os.rename(base + ".json.tmp", base + ".json")
            return "250 Message accepted for delivery"

    def authenticator(server, session, envelope, mechanism, auth_data):
        ok = (isinstance(auth_data, LoginPassword)
              and auth_data.login == user.encode()
              and auth_data.password == password.encode())
        # handled=False: smtp_AUTH answers 535 itself on failure.
        return AuthResult(success=ok, handled=False,
                          auth_data=auth_data if ok else None)

    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    handler = Handler()

    def factory():
        return SMTP(handler, hostname="smtp.test", tls_context=tls,
                    require_starttls=True, auth_required=True,
                    auth_require_tls=True, authenticator=authenticator,
                    loop=loop)

    server = loop.run_until_complete(
        loop.create_server(factory, host="127.0.0.1", port=0))
    print(server.sockets[0].getsockname()[1], flush=True)
    loop.run_forever()


if __name__ == "__main__":
    main()
