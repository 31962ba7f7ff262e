document.title = "Demo app (js)";
