"""Operations: the processes that run the house (``kefu serve``, ``kefu worker``).

At the top of the house with the demo: the worker's timers call every app's
services, and nothing imports this app.
"""
