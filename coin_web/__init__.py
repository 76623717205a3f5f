"""The COIN web review page: a trame-slicer front end of COINSegmentation's logic.

``coin web`` starts it (coin_core/cli/web_cmd.py). The page reuses
``coin_slicer`` (the Slicer modules' scene-level logic, which runs on slicer-core); nothing of the
model run is duplicated here.

Layout (mirrors trame-slicer's ``app/``): ``state.py`` holds the page state dataclasses, ``logic/``
the logics (each gets the server and the SlicerApp injected, ``set_ui(ui)`` connects the UI's
signals), ``ui/`` the widgets, ``app.py`` the ``TrameApp`` that wires them.
"""
