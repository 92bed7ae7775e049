// Applies the stored theme choice before the page paints (a module script would run too late).
try {
  const theme = localStorage.getItem('reef.theme');
  if (theme === 'light' || theme === 'dark') document.documentElement.dataset.theme = theme;
} catch (_) { /* storage disabled: follow the system */ }
