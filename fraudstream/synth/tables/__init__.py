"""Reference data of the generator: pure tables, no code that draws.

* `places.py`: countries (currency, rate, share of home accounts, cities), first and last names,
  where families abroad, fraudulent beneficiaries and fraudsters' IP addresses are, months, streets.
* `merchants.py`: card spend categories (MCCs, channel, amounts), merchant and brand names,
  obscure web shops, exchanges, wallets and brokers, bank codes, calendar payees, employers.
* `narratives.py`: memos of ordinary payments and of the benign look-alikes, memos of mules and
  account takeovers, and the stories told to friends and family and by quiet scams.
* `scams.py`: the small grammar of scam memos (`SCAM_TEMPLATES` and their slots).

The weekly activity profile lives with the clock that uses it (`synth/clock.py`).
"""
