"""The model review of a pull request (issue 17): candidate against champion."""
