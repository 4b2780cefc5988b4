; Inno Setup 6 script: a per-user installer for DesktopChat (no administrator rights).
; Built by packaging\build.py on Windows, which passes:
;   /DAppVersion=0.1.0 /DSourceDir=build\dist\DesktopChat /DOutputDir=build
;   /DOutputBase=DesktopChat-0.1.0-windows-x64 /DRepoDir=<checkout>
; By hand: iscc /DAppVersion=... /DSourceDir=... /DOutputDir=... /DOutputBase=... /DRepoDir=... desktopchat.iss
;
; It installs into %LOCALAPPDATA%\Programs\DesktopChat, adds a Start-menu entry (and an
; optional desktop icon), registers the .gguf file type (open = import into DesktopChat),
; and an uninstaller in Settings > Apps. Conversations and models (in %LOCALAPPDATA%\DesktopChat)
; are kept on uninstall.

#ifndef AppVersion
  #error Pass /DAppVersion=... (packaging\build.py does)
#endif
#ifndef SourceDir
  #error Pass /DSourceDir=<PyInstaller's DesktopChat folder>
#endif

[Setup]
AppId={{6B0E2C64-5D8F-4C1B-9E55-3C2A7F1D9A41}
AppName=DesktopChat
AppVersion={#AppVersion}
AppVerName=DesktopChat {#AppVersion}
AppPublisher=The DesktopChat authors
DefaultDirName={localappdata}\Programs\DesktopChat
DefaultGroupName=DesktopChat
DisableProgramGroupPage=yes
PrivilegesRequired=lowest
PrivilegesRequiredOverridesAllowed=dialog
ArchitecturesAllowed=x64compatible
ArchitecturesInstallIn64BitMode=x64compatible
OutputDir={#OutputDir}
OutputBaseFilename={#OutputBase}-setup
SetupIconFile={#RepoDir}\assets\desktopchat.ico
UninstallDisplayIcon={app}\DesktopChat.exe
LicenseFile={#RepoDir}\LICENSE
Compression=lzma2/max
SolidCompression=yes
WizardStyle=modern
ChangesAssociations=yes
CloseApplications=yes

[Tasks]
Name: "desktopicon"; Description: "{cm:CreateDesktopIcon}"; GroupDescription: "{cm:AdditionalIcons}"; Flags: unchecked
Name: "associate"; Description: "Open .gguf model files with DesktopChat"; GroupDescription: "File types:"

[Files]
Source: "{#SourceDir}\*"; DestDir: "{app}"; Flags: ignoreversion recursesubdirs createallsubdirs

[Icons]
Name: "{userprograms}\DesktopChat"; Filename: "{app}\DesktopChat.exe"; Comment: "Private, offline chat with language models"
Name: "{userdesktop}\DesktopChat"; Filename: "{app}\DesktopChat.exe"; Tasks: desktopicon

[Registry]
; Per-user file association: HKCU\Software\Classes (HKA follows the install mode).
Root: HKA; Subkey: "Software\Classes\.gguf"; ValueType: string; ValueName: ""; ValueData: "DesktopChat.GGUF"; Flags: uninsdeletevalue; Tasks: associate
Root: HKA; Subkey: "Software\Classes\.gguf\OpenWithProgids"; ValueType: string; ValueName: "DesktopChat.GGUF"; ValueData: ""; Flags: uninsdeletevalue; Tasks: associate
Root: HKA; Subkey: "Software\Classes\DesktopChat.GGUF"; ValueType: string; ValueName: ""; ValueData: "GGUF language model"; Flags: uninsdeletekey; Tasks: associate
Root: HKA; Subkey: "Software\Classes\DesktopChat.GGUF\DefaultIcon"; ValueType: string; ValueName: ""; ValueData: "{app}\DesktopChat.exe,0"; Tasks: associate
Root: HKA; Subkey: "Software\Classes\DesktopChat.GGUF\shell\open"; ValueType: string; ValueName: ""; ValueData: "Import into DesktopChat"; Tasks: associate
Root: HKA; Subkey: "Software\Classes\DesktopChat.GGUF\shell\open\command"; ValueType: string; ValueName: ""; ValueData: """{app}\DesktopChat.exe"" ""%1"""; Tasks: associate
Root: HKA; Subkey: "Software\Classes\Applications\DesktopChat.exe\SupportedTypes"; ValueType: string; ValueName: ".gguf"; ValueData: ""; Flags: uninsdeletekey

[Run]
Filename: "{app}\DesktopChat.exe"; Description: "{cm:LaunchProgram,DesktopChat}"; Flags: nowait postinstall skipifsilent
