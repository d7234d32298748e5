"""The soak (``-k soak``): a steady serving load for a set time, sampled in windows, then judged.

A peak monitor cannot show a slow upward trend (vllm-ascend #6478: device memory 62 → 64 GB over two
days, then out of memory; #2650: host memory up 100 GB in 3 h). The soak drives a closed loop of
streams or Poisson arrivals until a deadline (``driver``), reads the server's memory beside it
(``locate``, ``probes``), cuts the run into windows (``windows``) and judges three things with numbers
and intervals (``trend``, ``drift``, ``verdicts``): memory growth, latency drift and errors.
``judge`` turns the run into the saved metrics, and ``lines`` prints them for the terminal and the report.
"""
